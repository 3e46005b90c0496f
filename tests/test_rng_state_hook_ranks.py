"""RNGStateHook under DDP, without processes: each rank gets its own generator states
back on resume, a checkpoint of another world size falls back to rank 0's (warned), and
a fresh run reseeds ranks > 0 only (a single-process run keeps the Runner's seeding)."""
from types import SimpleNamespace

import torch

from dp_plugin.pretrain import rng_state_hook
from dp_plugin.pretrain.rng_state_hook import RNGStateHook, get_rng_state


def _states(n):
    states = []
    for seed in range(n):
        torch.manual_seed(100 + seed)
        states.append(get_rng_state())
    return states


def _as_rank(monkeypatch, rank, world):
    monkeypatch.setattr(rng_state_hook.dist, 'get_rank', lambda: rank)
    monkeypatch.setattr(rng_state_hook.dist, 'get_world_size', lambda: world)


def test_each_rank_restores_its_own_state(monkeypatch):
    states = _states(2)
    for rank in (0, 1):
        _as_rank(monkeypatch, rank, 2)
        hook, runner = RNGStateHook(), SimpleNamespace(_resume=True, seed=0)
        hook.after_load_checkpoint(runner, dict(rng_state=dict(per_rank=states)))
        torch.manual_seed(7)
        hook.before_train(runner)
        assert torch.equal(torch.get_rng_state(), states[rank]['torch'])


def test_other_world_size_falls_back_to_rank_0(monkeypatch):
    states = _states(2)
    _as_rank(monkeypatch, 2, 4)
    hook, runner = RNGStateHook(), SimpleNamespace(_resume=True, seed=0)
    hook.after_load_checkpoint(runner, dict(rng_state=dict(per_rank=states)))
    hook.before_train(runner)
    assert torch.equal(torch.get_rng_state(), states[0]['torch'])


def test_fresh_run_reseeds_only_ranks_above_0(monkeypatch):
    for rank in (0, 1, 3):
        _as_rank(monkeypatch, rank, 4)
        torch.manual_seed(5 + rank)
        reseeded = torch.get_rng_state()
        torch.manual_seed(5)  # what the Runner's seeding left
        runner_seeded = torch.get_rng_state()
        RNGStateHook().before_train(SimpleNamespace(_resume=False, seed=5))
        want = runner_seeded if rank == 0 else reseeded
        assert torch.equal(torch.get_rng_state(), want), rank
