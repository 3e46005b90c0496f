"""The queue as the paper (§3.4-3.5) and the authors: pool keys of both categories from
step 1, cross-category negatives only, filled before training, restored on resume."""
import os

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

from dp_plugin.pretrain import diffusion_print_pretrainer as dpp
from dp_plugin.pretrain.feature_queue import FeatureQueue
from pretrain_synth import make_patch_set, one_thread, tiny_runner_cfg  # noqa: F401 (autouse)


@pytest.fixture(scope='module')
def patches(tmp_path_factory):
    return make_patch_set(str(tmp_path_factory.mktemp('queue')), n_real=2, n_gen=1, size=64)


def test_queue_holds_pool_keys_and_negatives_are_cross_category(patches, tmp_path,
                                                                 monkeypatch):
    """Every queue entry is the momentum key of a pool patch, tagged with that patch's
    category; at step 1 the queue is full with both categories; in every step each
    anchor's selected negatives are of the other category (generated anchors get real
    pool patches and vice versa)."""
    forwards, enqueued, steps = [], [], []
    net_forward = dpp.EmbeddingNet.forward

    def spy_forward(self, x):
        out = net_forward(self, x)
        if not torch.is_grad_enabled():  # the momentum encoder (fill and training steps)
            forwards.append((x.detach().clone(), out.detach().clone()))
        return out

    queue_enqueue = FeatureQueue.enqueue

    def spy_enqueue(self, feats, category, label, gather=True):
        enqueued.append((feats.detach().clone(), category.clone()))
        return queue_enqueue(self, feats, category, label, gather)

    nce = dpp.hard_negative_info_nce

    def spy_nce(q, k, bank, bank_cat, category, topk, tau, extra=None):
        sims = (q @ bank.t()).detach()
        valid = (bank_cat[None] >= 0) & (bank_cat[None] != category[:, None])
        idx = sims.masked_fill(~valid, float('-inf')).topk(min(topk, bank.shape[0]), 1).indices
        steps.append((bank_cat.clone(), category.clone(), bank_cat[idx], valid.gather(1, idx)))
        return nce(q, k, bank, bank_cat, category, topk, tau, extra)

    monkeypatch.setattr(dpp.EmbeddingNet, 'forward', spy_forward)
    monkeypatch.setattr(FeatureQueue, 'enqueue', spy_enqueue)
    monkeypatch.setattr(dpp, 'hard_negative_info_nce', spy_nce)
    runner = Runner.from_cfg(tiny_runner_cfg(patches, str(tmp_path / 'w'), max_epochs=1,
                                             batch_size=16))
    runner.train()

    ds = runner.train_dataloader.dataset
    pool, pool_cat, _ = ds.pool_patches(np.arange(ds.pool.size))
    pool_inputs = pool.float() / 255  # pool patches are not augmented (authors' code)
    assert set(pool_cat.tolist()) == {0, 1}
    normalise = torch.nn.functional.normalize
    for feats, cats in enqueued:  # each enqueued key: a pool patch through the EMA net
        for row, cat in zip(feats, cats):
            hits = [(x, out) for x, out in forwards
                    if torch.isclose(normalise(out, dim=1), row[None]).all(1).any()]
            assert hits, 'an enqueued key is no momentum-encoder output'
            x, out = hits[0]
            j = int(torch.isclose(normalise(out, dim=1), row[None]).all(1).nonzero()[0])
            same = (pool_inputs == x[j]).flatten(1).all(1).nonzero().flatten()
            assert same.numel() >= 1, 'an enqueued key is not a pool patch'
            assert int(cat) in pool_cat[same].tolist()
    assert len(steps) == len(runner.train_dataloader) >= 2
    first_bank = steps[0][0]
    assert bool((first_bank >= 0).all())  # full from step 1 ...
    assert (first_bank == 0).sum() > 0 and (first_bank == 1).sum() > 0  # ... both categories
    for bank_cat, category, chosen_cat, chosen_valid in steps:
        assert bool(chosen_valid.all())  # k valid negatives for every anchor
        assert bool((chosen_cat != category[:, None]).all())
        gen = category == 1
        assert bool((chosen_cat[gen] == 0).all()) and bool((chosen_cat[~gen] == 1).all())


def test_resume_restores_the_queue_instead_of_refilling(patches, tmp_path):
    cfg = tiny_runner_cfg(patches, str(tmp_path / 'w'), max_epochs=1, batch_size=16)
    Runner.from_cfg(cfg).train()
    saved = torch.load(os.path.join(cfg.work_dir, 'epoch_1.pth'), weights_only=True)
    cfg = tiny_runner_cfg(patches, str(tmp_path / 'w'), max_epochs=1, batch_size=16)
    cfg.resume = True
    runner = Runner.from_cfg(cfg)
    runner.train()  # loads epoch 1, runs before_train, trains nothing more
    queue = runner.model.queue
    assert torch.equal(queue.feats, saved['state_dict']['queue.feats'])
    assert torch.equal(queue.ptr, saved['state_dict']['queue.ptr'])
    # a fresh start fills from the pool before the first step
    fresh = Runner.from_cfg(tiny_runner_cfg(patches, str(tmp_path / 'f'), max_epochs=1,
                                            batch_size=16))
    fresh.register_hook(_StopBeforeFirstStep(), priority='LOW')  # after QueueFillHook
    with pytest.raises(_Stopped):
        fresh.train()
    assert bool((fresh.model.queue.category >= 0).all()) and int(fresh.model.queue.ptr) == 0
    assert not torch.equal(fresh.model.queue.feats, saved['state_dict']['queue.feats'])


class _Stopped(RuntimeError):
    pass


class _StopBeforeFirstStep(Hook):
    def before_train(self, runner):
        raise _Stopped


def test_no_pool_is_a_clear_error(tmp_path):
    from dp_plugin.pretrain.queue_fill_hook import QueueFillHook

    class _DS:
        pool = np.zeros(0, dtype=np.int64)

        class index:  # noqa: N801
            data_file = 'x/patches.dat'

    class _Loader:
        dataset = _DS()

    class _Runner:
        _resume = False
        train_dataloader = _Loader()
        model = dpp.DiffusionPrintPretrainer(
            backbone=dict(type='DnCNN', depth=3, width=8, out_channels=8), patch_size=8,
            queue_size=8)

    with pytest.raises(ValueError, match='no hard-negative pool'):
        QueueFillHook().before_train(_Runner())
