"""The batched fetch of PatchPairDataset (``__getitems__``, used by the DataLoader) gives
exactly the items of ``__getitem__`` and keeps them uint8; ``patch_pair_collate`` (the
config's collate) hands the batch on without copying it."""
import csv
import json
import os.path as osp

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, default_collate

from dp_plugin.pretrain.patch_batch import patch_pair_collate
from dp_plugin.pretrain.patch_builder import CSV_COLUMNS
from dp_plugin.pretrain.patch_pair_dataset import PatchPairDataset

GENS = ('simnn', 'simbl')


def _write(root, group_sizes, pool, size=8):
    """Mutual-positive groups of the given sizes (first row real), then pool rows."""
    rows = sum(group_sizes) + pool
    rng = np.random.default_rng(0)
    data = np.memmap(root / 'patches.dat', dtype=np.uint8, mode='w+', shape=(rows, size, size, 3))
    data[:] = rng.integers(0, 256, data.shape, dtype=np.uint8)
    data.flush()
    order = rng.permutation(rows)  # memmap rows not in CSV order
    with open(root / 'patches.csv', 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        r = 0
        for g, n in enumerate(group_sizes):
            names = [f'g{g}_{k}' for k in range(n)]
            for k in range(n):
                cat, gen = ('real', 'none') if k == 0 else ('generated', GENS[g % 2])
                w.writerow([names[k], order[r], f'i{g}', cat, gen, 'True',
                            ';'.join(x for x in names if x != names[k]) or 'none'])
                r += 1
        for p in range(pool):
            w.writerow([f'p{p}', order[r], f'p{p}', 'generated' if p % 2 else 'real',
                        GENS[p % 2] if p % 2 else 'none', 'False', 'none'])
            r += 1
    (root / 'meta.json').write_text(json.dumps(dict(patch_size=size)))


@pytest.mark.parametrize('pool', [5, 0])
def test_getitems_equals_getitem_with_padding_duplicates_and_pool(tmp_path, pool):
    _write(tmp_path, [4, 2, 3, 4], pool)
    ds = PatchPairDataset(str(tmp_path), generators=GENS, max_positives=3)
    ids = [3, 0, 5, 5, 12, 7, 1, 9]  # unsorted, a duplicate, padded and full anchors
    batched = ds.__getitems__(ids)
    assert len(batched) == len(ids)
    for i, item in zip(ids, batched):
        ref = ds[i]
        assert item.keys() == ref.keys()
        for key in ref:
            assert item[key].dtype == ref[key].dtype, key
            assert item[key].shape == ref[key].shape, key
            assert torch.equal(item[key], ref[key]), (i, key)
    assert batched[0]['views'].dtype == torch.uint8


def test_dataloader_fetches_batches_in_one_read_matching_per_item_collate(tmp_path,
                                                                         monkeypatch):
    _write(tmp_path, [4, 3, 4, 2, 4], 6)
    ds = PatchPairDataset(str(tmp_path), generators=GENS, max_positives=3)
    order = list(np.random.default_rng(1).permutation(len(ds)))
    refs = [default_collate([ds[int(i)] for i in order[b:b + 5]])
            for b in range(0, len(order), 5)]

    def per_item(self, i):
        raise AssertionError('the DataLoader fetched item by item')

    monkeypatch.setattr(PatchPairDataset, '__getitem__', per_item)
    loader = DataLoader(ds, batch_size=5, sampler=order, num_workers=0)
    batches = list(loader)
    assert len(batches) == len(refs)
    for batch, ref in zip(batches, refs):
        assert batch.keys() == ref.keys()
        for key in ref:
            assert torch.equal(batch[key], ref[key]), key
        assert batch['views'].dtype == torch.uint8 and batch['neg'].dtype == torch.uint8


def _assert_batches_equal(batch, ref):
    assert batch.keys() == ref.keys()
    for key in ref:
        assert batch[key].dtype == ref[key].dtype, key
        assert batch[key].shape == ref[key].shape, key
        assert torch.equal(batch[key], ref[key]), key


@pytest.mark.parametrize('pool', [5, 0])
def test_patch_pair_collate_passes_the_batch_through_equal_to_per_item(tmp_path, pool):
    _write(tmp_path, [4, 2, 3, 4], pool)
    ds = PatchPairDataset(str(tmp_path), generators=GENS, max_positives=3)
    ids = [3, 0, 5, 5, 12, 7, 1, 9]
    fetched = ds.__getitems__(ids)
    batch = patch_pair_collate(fetched)
    _assert_batches_equal(batch, default_collate([ds[i] for i in ids]))
    # no copy: the collated tensors are the ones the fetch built
    assert batch['views'].data_ptr() == fetched.tensors['views'].data_ptr()
    assert batch['views'].contiguous().is_contiguous()
    # per-item fetches (no __getitems__) still collate as default_collate does
    _assert_batches_equal(patch_pair_collate([ds[i] for i in ids[:3]]),
                          default_collate([ds[i] for i in ids[:3]]))


def test_config_collate_in_a_worker_delivers_shared_uint8_batches(tmp_path):
    """The base config's ``collate_fn`` resolves through the runner, and a worker's
    batches arrive in shared memory (built there; nothing copied on the way)."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    _write(tmp_path, [4, 3, 4, 2, 4], 6)
    cfg = Config.fromfile(osp.join(osp.dirname(__file__), '..', 'configs', '_base_',
                                   'datasets', 'pretrain_patches.py'))
    assert cfg.train_dataloader.collate_fn == dict(type='patch_pair_collate')
    order = [int(i) for i in np.random.default_rng(2).permutation(17)]
    with DefaultScope.overwrite_default_scope('dp_plugin'):
        loader = Runner.build_dataloader(dict(
            batch_size=5, num_workers=1, sampler=order, collate_fn=cfg.train_dataloader.collate_fn,
            dataset=dict(type='PatchPairDataset', data_root=str(tmp_path), generators=GENS,
                         max_positives=3)))
    ds = loader.dataset
    batches = list(loader)
    assert len(batches) == 4
    for b, batch in enumerate(batches):
        _assert_batches_equal(batch, default_collate([ds[i] for i in order[5 * b:5 * b + 5]]))
        assert batch['views'].is_shared() and batch['neg'].is_shared()
