"""Ring queue of momentum embeddings tagged by category and generator label."""
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

    The state is in buffers (so checkpoints carry queue and pointer) that the owning
    model hides from DDP (:attr:`BUFFERS`, see :class:`DiffusionPrintPretrainer`):
    DDP would otherwise broadcast the whole queue from rank 0 at every forward.
    Every rank enqueues the same gathered keys, so all queues stay identical.
    """

    BUFFERS = ('feats', 'category', 'label', 'ptr')

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f'queue size must be >= 1, got {size}')
        self.size = int(size)
        self.register_buffer('feats', torch.zeros(self.size, int(dim)))
        self.register_buffer('category', torch.full((self.size, ), -1, dtype=torch.long))
        self.register_buffer('label', torch.full((self.size, ), -1, dtype=torch.long))
        self.register_buffer('ptr', torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, feats: torch.Tensor, category: torch.Tensor, label: torch.Tensor,
                gather: bool = True) -> None:
        """Gather the rows of every rank (unless ``gather=False``: rows already the same
        on every rank), then write them at the pointer (wrapping). No host sync: the
        pointer stays on the device."""
        if gather:
            feats = gather_rows(feats.detach().to(self.feats.dtype))
            category = gather_rows(category.long())
            label = gather_rows(label.long())
        n = feats.shape[0]
        if n == 0:
            return
        if n > self.size:  # keep the newest
            feats, category, label = feats[-self.size:], category[-self.size:], label[-self.size:]
            n = self.size
        idx = (self.ptr + torch.arange(n, device=self.feats.device)) % self.size
        self.feats[idx] = feats.to(self.feats)
        self.category[idx] = category.to(self.category)
        self.label[idx] = label.to(self.label)
        self.ptr.copy_((self.ptr + n) % self.size)
