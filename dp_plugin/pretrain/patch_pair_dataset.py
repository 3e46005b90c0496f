"""Dataset of anchor patches with their positives and a hard-negative pool patch."""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from dp_plugin.registry import DATASETS
from .patch_batch import PatchBatch
from .patch_index import load_patch_index


@DATASETS.register_module()
class PatchPairDataset(Dataset):
    """Anchors (``has_positive`` rows) of a CSV + memmap patch set.

    Item ``i`` is a dict of tensors (no randomness here, so the data order is a pure
    function of the sampler and resuming is exact; the model picks one positive and
    applies augmentations on tensors):

    * ``views``: ``uint8 (V, 3, P, P)``, the anchor then its positives, zero padded to
      ``V = 1 + max_positives``; ``num_pos``: how many positives are real;
    * ``category`` (0 real / 1 generated) and ``gen_label`` (real 0, then the index in
      ``generators`` + 1, the generator-aware head's classes);
    * ``neg``: a hard-negative pool patch with ``neg_category``/``neg_gen_label``, and
      ``neg_valid`` (0 when the pool is empty). Pool patch of anchor ``i`` is
      ``pool[perm[i % len(pool)]]`` with a fixed seeded permutation: each epoch pairs
      every pool patch with an anchor when there are more anchors than pool patches.

    Args:
        data_root (str): Folder of the patch set.
        ann_file (str): Index CSV. Defaults to ``'patches.csv'``.
        data_file (str): uint8 memmap. Defaults to ``'patches.dat'``.
        generators (Sequence[str]): Training generators in class order
            (``generator_model`` values; real patches use ``'none'``).
        max_positives (int, optional): Cap on positives per anchor (default: all).
        patch_size (int, optional): Patch size (default: from ``meta.json``, else 64).
        seed (int): Seed of the pool permutation. Defaults to 0.
    """

    def __init__(self, data_root: str, generators: Sequence[str],
                 ann_file: str = 'patches.csv', data_file: str = 'patches.dat',
                 max_positives: Optional[int] = None, patch_size: Optional[int] = None,
                 seed: int = 0) -> None:
        self.index = load_patch_index(data_root, ann_file, data_file, patch_size)
        self.generators = tuple(generators)
        labels = {g: i + 1 for i, g in enumerate(self.generators)}
        idx = self.index
        gen_label = np.zeros(len(idx.category), dtype=np.int64)
        for i, (cat, gen) in enumerate(zip(idx.category, idx.generator)):
            if cat == 1:
                if gen not in labels:
                    raise ValueError(f'{data_root}/{ann_file}: generator {gen!r} is not in '
                                     f'generators={self.generators}')
                gen_label[i] = labels[gen]
        self.gen_label = gen_label
        self.anchors = np.nonzero(idx.has_positive)[0]
        if self.anchors.size == 0:
            raise ValueError(f'{data_root}/{ann_file}: no rows with has_positive=True')
        self.pool = np.nonzero(~idx.has_positive)[0]
        self.pool_perm = np.random.default_rng(seed).permutation(self.pool.size)
        counts = np.diff(idx.pos_ptr)[self.anchors]
        self.max_positives = int(counts.max() if max_positives is None
                                 else min(counts.max(), max_positives))
        self._memmap = None
        self.metainfo = dict(classes=('real', ) + self.generators,
                             patch_size=idx.patch_size, anchors=int(self.anchors.size),
                             pool=int(self.pool.size))

    def __len__(self) -> int:
        return int(self.anchors.size)

    def _patches(self, rows) -> torch.Tensor:
        if self._memmap is None:  # opened lazily: one handle per worker process
            self._memmap = self.index.open_memmap()
        arr = np.asarray(self._memmap[np.asarray(rows, dtype=np.int64)])
        return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()

    def pool_patches(self, positions: Sequence[int]) -> Tuple[torch.Tensor, torch.Tensor,
                                                               torch.Tensor]:
        """Pool patches ``pool[positions]``: ``(uint8 (n, 3, P, P), category, gen_label)``."""
        rows = self.pool[np.asarray(positions, dtype=np.int64)]
        patches = self._patches(self.index.master_index[rows]) if rows.size else \
            torch.zeros(0, 3, self.index.patch_size, self.index.patch_size, dtype=torch.uint8)
        return (patches, torch.from_numpy(self.index.category[rows].astype(np.int64)),
                torch.from_numpy(self.gen_label[rows]))

    def __getitem__(self, i: int) -> Dict[str, torch.Tensor]:
        idx = self.index
        row = int(self.anchors[i])
        pos = idx.pos_rows[idx.pos_ptr[row]:idx.pos_ptr[row + 1]][:self.max_positives]
        views = self._patches([idx.master_index[row], *pos])
        P = idx.patch_size
        if views.shape[0] < 1 + self.max_positives:
            pad = views.new_zeros(1 + self.max_positives - views.shape[0], 3, P, P)
            views = torch.cat([views, pad])
        out = dict(views=views, num_pos=torch.tensor(len(pos)),
                   category=torch.tensor(int(idx.category[row])),
                   gen_label=torch.tensor(int(self.gen_label[row])))
        if self.pool.size:
            prow = int(self.pool[self.pool_perm[i % self.pool.size]])
            out.update(neg=self._patches([idx.master_index[prow]])[0],
                       neg_category=torch.tensor(int(idx.category[prow])),
                       neg_gen_label=torch.tensor(int(self.gen_label[prow])),
                       neg_valid=torch.tensor(1))
        else:
            out.update(neg=torch.zeros(3, P, P, dtype=torch.uint8),
                       neg_category=torch.tensor(-1), neg_gen_label=torch.tensor(-1),
                       neg_valid=torch.tensor(0))
        return out

    def __getitems__(self, indices: Sequence[int]) -> PatchBatch:
        """``[self[i] for i in indices]`` as a :class:`PatchBatch` (the DataLoader's fetch).

        The batch is built in its final order with one copy: the memmap rows of every
        (item, view) slot and pool patch are gathered straight into one uint8 tensor (in
        shared memory inside a DataLoader worker, so sending it to the main process copies
        nothing); labels are vectorised. ``views``/``neg`` have their documented shapes
        but channels-last strides (equal values; call ``.contiguous()`` for NCHW memory).
        ``patch_pair_collate`` hands that batch on as is; ``default_collate`` still works
        on the items (views of the batch tensors).
        """
        idx, P, V = self.index, self.index.patch_size, 1 + self.max_positives
        ids = np.asarray(indices, dtype=np.int64)
        n = ids.size
        rows = self.anchors[ids]
        start = idx.pos_ptr[rows]
        num_pos = np.minimum(idx.pos_ptr[rows + 1] - start, self.max_positives)
        # memmap row of every (item, view) slot, then every pool patch; -1: zero padding
        wanted = np.full(n * (V + 1), -1, dtype=np.int64)
        slots = wanted[:n * V].reshape(n, V)
        slots[:, 0] = idx.master_index[rows]
        real = np.arange(self.max_positives)[None, :] < num_pos[:, None]
        slots[:, 1:][real] = idx.pos_rows[(start[:, None] + np.arange(self.max_positives))[real]]
        if self.pool.size:
            prow = self.pool[self.pool_perm[ids % self.pool.size]]
            wanted[n * V:] = idx.master_index[prow]
            neg_cat, neg_gen = idx.category[prow].astype(np.int64), self.gen_label[prow]
        else:
            neg_cat = neg_gen = np.full(n, -1, dtype=np.int64)
        if self._memmap is None:
            self._memmap = self.index.open_memmap()
        pad = wanted < 0
        # rows copied straight from the memmap into the batch, kept (P, P, 3) in memory:
        # the (3, P, P) tensors are permuted views (channels-last strides, which the
        # device copy keeps and conv layers take as is), so the host transposes nothing
        out = _new_uint8((wanted.size, P, P, 3))
        out_np = out.numpy()
        # mode='clip': numpy buffers a take with out= in the default mode (one more copy)
        np.take(self._memmap, np.where(pad, 0, wanted), axis=0, out=out_np, mode='clip')
        if pad.any():
            out_np[pad] = 0
        return PatchBatch(dict(
            views=out[:n * V].view(n, V, P, P, 3).permute(0, 1, 4, 2, 3),
            num_pos=torch.from_numpy(num_pos),
            category=torch.from_numpy(idx.category[rows].astype(np.int64)),
            gen_label=torch.from_numpy(self.gen_label[rows]),
            neg=out[n * V:].permute(0, 3, 1, 2),
            neg_category=torch.from_numpy(neg_cat), neg_gen_label=torch.from_numpy(neg_gen),
            neg_valid=torch.full((n, ), int(self.pool.size > 0))))


def _new_uint8(shape: Tuple[int, ...]) -> torch.Tensor:
    """Empty uint8 tensor; in shared memory inside a DataLoader worker (as ``default_collate``)."""
    if get_worker_info() is None:
        return torch.empty(shape, dtype=torch.uint8)
    elem = torch.empty(0, dtype=torch.uint8)
    storage = elem._typed_storage()._new_shared(int(np.prod(shape)), device=elem.device)
    return elem.new(storage).view(shape)
