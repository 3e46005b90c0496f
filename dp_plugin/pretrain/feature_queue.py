"""Ring queue of momentum embeddings tagged by category and generator label."""
from typing import Any, Dict

import torch
import torch.nn as nn
from mmengine import dist


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` (rows may differ per rank) over all ranks, in rank order."""
    if dist.get_world_size() == 1:
        return x
    n = torch.tensor([x.shape[0]], device=x.device)
    sizes = [int(s) for s in dist.all_gather(n)]
    padded = x.new_zeros((max(sizes), *x.shape[1:]))
    padded[:x.shape[0]] = x
    parts = dist.all_gather(padded)
    return torch.cat([p[:s] for p, s in zip(parts, sizes)])


class FeatureQueue(nn.Module):
    """A FIFO of ``size`` embeddings with a category (-1 = never filled) and a label.

    The state travels in the model's ``state_dict`` as *extra state* (so checkpoints
    carry queue and pointer), not as buffers: DDP would otherwise broadcast the whole
    queue from rank 0 at every forward. Every rank enqueues the same gathered keys,
    so all queues stay identical.
    """

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f'queue size must be >= 1, got {size}')
        self.size = int(size)
        self.dim = int(dim)
        self.feats = torch.zeros(self.size, self.dim)
        self.category = torch.full((self.size, ), -1, dtype=torch.long)
        self.label = torch.full((self.size, ), -1, dtype=torch.long)
        self.ptr = 0

    def to_device(self, device: torch.device) -> None:
        if self.feats.device != device:
            self.feats = self.feats.to(device)
            self.category = self.category.to(device)
            self.label = self.label.to(device)

    @torch.no_grad()
    def enqueue(self, feats: torch.Tensor, category: torch.Tensor,
                label: torch.Tensor) -> None:
        """Gather the rows of every rank, then write them at the pointer (wrapping)."""
        feats = gather_rows(feats.detach().float())
        category = gather_rows(category.long())
        label = gather_rows(label.long())
        n = feats.shape[0]
        if n == 0:
            return
        if n > self.size:  # keep the newest
            feats, category, label = feats[-self.size:], category[-self.size:], label[-self.size:]
            n = self.size
        self.to_device(feats.device)
        idx = (self.ptr + torch.arange(n, device=feats.device)) % self.size
        self.feats[idx] = feats
        self.category[idx] = category
        self.label[idx] = label
        self.ptr = int((self.ptr + n) % self.size)

    def get_extra_state(self) -> Dict[str, Any]:
        return dict(feats=self.feats, category=self.category, label=self.label,
                    ptr=torch.tensor(self.ptr))

    def set_extra_state(self, state: Dict[str, Any]) -> None:
        if state['feats'].shape != (self.size, self.dim):
            raise ValueError(f'queue of shape {tuple(state["feats"].shape)} in the checkpoint, '
                             f'model expects ({self.size}, {self.dim})')
        self.feats = state['feats'].clone()
        self.category = state['category'].clone()
        self.label = state['label'].clone()
        self.ptr = int(state['ptr'])
