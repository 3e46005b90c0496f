"""Kill-and-resume reproduces the uninterrupted run; checkpoints load weights-only."""
import os

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

from pretrain_synth import make_patch_set, one_thread, tiny_runner_cfg  # noqa: F401 (autouse)


class _Killed(RuntimeError):
    pass


class _KillAfterFirstEpoch(Hook):
    priority = 'LOWEST'  # after the checkpoint hook has written epoch_1.pth

    def after_train_epoch(self, runner):
        raise _Killed


@pytest.fixture(scope='module')
def patches(tmp_path_factory):
    return make_patch_set(str(tmp_path_factory.mktemp('resume')), n_real=2, n_gen=1, size=64)


def _final_state(work_dir):
    ckpt = torch.load(os.path.join(work_dir, 'epoch_2.pth'), map_location='cpu',
                      weights_only=True)
    return ckpt


def test_kill_and_resume_equals_uninterrupted(patches, tmp_path):
    full = str(tmp_path / 'full')
    Runner.from_cfg(tiny_runner_cfg(patches, full, batch_size=16)).train()

    part = str(tmp_path / 'part')
    runner = Runner.from_cfg(tiny_runner_cfg(patches, part, batch_size=16))
    runner.register_hook(_KillAfterFirstEpoch())
    with pytest.raises(_Killed):
        runner.train()
    assert os.path.isfile(os.path.join(part, 'epoch_1.pth'))
    assert not os.path.exists(os.path.join(part, 'epoch_2.pth'))
    assert not [f for f in os.listdir(part) if f.startswith('.tmp-')]  # atomic writes
    cfg = tiny_runner_cfg(patches, part, batch_size=16)
    cfg.resume = True
    Runner.from_cfg(cfg).train()

    a, b = _final_state(full), _final_state(part)
    sa, sb = a['state_dict'], b['state_dict']
    assert sa.keys() == sb.keys()
    for key in sa:  # weights, BN statistics, EMA weights, queue features/tags/pointer
        assert torch.equal(sa[key], sb[key]), key
    assert bool((sa['queue.category'] >= 0).all())  # filled from the pool before step 1
    assert 'momentum_encoder.module.encoder.0.weight' in sa and 'momentum_encoder.steps' in sa
    for sta, stb in zip(a['optimizer']['state'].values(), b['optimizer']['state'].values()):
        for name in sta:
            assert torch.equal(torch.as_tensor(sta[name]), torch.as_tensor(stb[name]))
    assert torch.equal(a['rng_state']['torch'], b['rng_state']['torch'])


def test_atomic_backend_never_leaves_a_partial_file(tmp_path, monkeypatch):
    from dp_plugin.pretrain.atomic_local_backend import AtomicLocalBackend
    backend = AtomicLocalBackend()
    target = tmp_path / 'epoch_1.pth'
    backend.put(b'old checkpoint', target)

    def crash(fd):
        raise OSError('disk full')

    monkeypatch.setattr(os, 'fsync', crash)
    with pytest.raises(OSError, match='disk full'):
        backend.put(b'new checkpoint that never completes', target)
    assert target.read_bytes() == b'old checkpoint'
    assert os.listdir(tmp_path) == ['epoch_1.pth']  # temp file removed
