"""A batch of PatchPairDataset items built in one piece, and its pass-through collate."""
from collections.abc import Sequence
from typing import Any, Dict, List, Union

import torch
from mmengine.registry import FUNCTIONS
from torch.utils.data import default_collate


class PatchBatch(Sequence):
    """The items of one batched fetch, stored as the collated batch ``tensors``.

    ``batch[k]`` is item ``k`` (views of the batch tensors), so ``default_collate`` and
    any list-of-items consumer still work; ``patch_pair_collate`` returns ``tensors``
    without copying.

    Args:
        tensors (dict): Batch tensors, each with the items along dimension 0.
    """

    def __init__(self, tensors: Dict[str, torch.Tensor]) -> None:
        self.tensors = tensors

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, k: int) -> Dict[str, torch.Tensor]:
        if not -len(self) <= k < len(self):
            raise IndexError(f'item {k} of a batch of {len(self)}')
        return {key: value[k] for key, value in self.tensors.items()}


@FUNCTIONS.register_module()
def patch_pair_collate(batch: Union[PatchBatch, List[Any]]) -> Any:
    """Collate of ``PatchPairDataset``: a :class:`PatchBatch` as is, anything else with
    ``default_collate`` (per-item fetches, other datasets)."""
    if isinstance(batch, PatchBatch):
        return dict(batch.tensors)
    return default_collate(batch)
