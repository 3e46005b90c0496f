"""Localization training survives kill -9 and torn checkpoints (issue 15, item 15).

Every config saves through :class:`dp_plugin.engine.AtomicCheckpointHook`: atomic
checkpoints and ``last_checkpoint``, outdated checkpoints removed only after the new one
is complete, temporary files of killed writers swept at start, and ``--resume`` falling
back to the newest complete checkpoint. Runs are the tiny SRM Lite Baseline on 32 px
crops, a few iterations, a checkpoint every iteration.
"""
import os
import os.path as osp
import re
import subprocess
import sys
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

import dp_plugin.engine  # noqa: F401  (allow-lists runner checkpoints for weights-only loading)
import fast_runner  # noqa: F401  (no yapf formatting of configs)
from tgif_fixture import make_tgif_fixture
from _helpers import load_tool

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY = osp.join(REPO, 'configs', 'lite_baseline', 'lite-baseline_mit-b0-tiny_srm_sim-128x128.py')
TEMP = '.dp-tmp-'


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('sim') / 'localization')
    make_tgif_fixture(root, generators=('simnn',), mask_types=('segm',), n_per_split=1, size=32)
    return root


def _options(data_root, max_iters):
    options = {'train_dataloader.batch_size': 2,
               'train_dataloader.dataset.pipeline.4.crop_size': (32, 32),
               'model.data_preprocessor.size': (32, 32), 'train_cfg.max_iters': max_iters,
               'train_cfg.val_begin': 100, 'param_scheduler.0.end': 100,  # no validation
               'default_hooks.checkpoint.interval': 1, 'default_hooks.logger.interval': 1}
    for loader in ('train_dataloader', 'val_dataloader'):
        options.update({f'{loader}.dataset.data_root': data_root,
                        f'{loader}.dataset.generators': ['simnn'],
                        f'{loader}.dataset.serialize_data': False})
    return options


def _cli_value(value):
    if isinstance(value, (list, tuple)):
        inner = ','.join(map(str, value))
        return f'[{inner}]' if isinstance(value, list) else f'({inner})'
    return str(value)


def _cli_options(data_root, max_iters):
    return ['--cfg-options'] + [f'{k}={_cli_value(v)}'
                                for k, v in _options(data_root, max_iters).items()]


def _complete(path):
    """A checkpoint that torch.load reads (weights only) in full."""
    return torch.load(path, map_location='cpu', weights_only=True)['meta']['iter']


def _temps(folder):
    return [osp.join(r, f) for r, _, files in os.walk(folder) for f in files if TEMP in f]


def _env():
    return dict(os.environ, PYTHONPATH=f'{REPO}{os.pathsep}{osp.join(REPO, "tests")}',
                OMP_NUM_THREADS='1')


def _with(module):
    """``python tools/train.py ...`` with the test helper ``module`` imported first."""
    return [sys.executable, '-c', f'import runpy, sys, {module}; sys.argv = sys.argv[1:]; '
            'runpy.run_path(sys.argv[0], run_name="__main__")']


def test_kill_during_save_then_resume_from_last_complete_checkpoint(data_root, tmp_path):
    """kill -9 in the middle of writing iter_3.pth, then the newest complete checkpoint
    (iter_2.pth) is torn as well: --resume continues from iter_1.pth and no temporary
    file survives the restart."""
    work = str(tmp_path / 'work')
    ready = str(tmp_path / 'saving')
    train = [osp.join(REPO, 'tools', 'train.py'), TINY, '--work-dir', work]
    env = dict(_env(), DP_TEST_STALL_AT='iter_3.pth', DP_TEST_STALL_READY=ready)
    proc = subprocess.Popen(_with('stall_checkpoint_save') + train + _cli_options(data_root, 3),
                            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    deadline = time.time() + 300
    while not osp.exists(ready) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    proc.kill()  # SIGKILL
    log = proc.communicate()[0]
    assert osp.exists(ready), f'iter_3.pth never saved by the atomic backend:\n{log[-3000:]}'

    names = sorted(os.listdir(work))
    assert not osp.exists(osp.join(work, 'iter_3.pth'))  # never a partial checkpoint
    assert [n for n in names if n.startswith('.iter_3.pth' + TEMP)], names  # the torn temp
    # the outdated iter_1 is only removed after iter_3 is complete: two complete ones remain
    assert _complete(osp.join(work, 'iter_1.pth')) == 1
    assert _complete(osp.join(work, 'iter_2.pth')) == 2
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert osp.basename(f.read().strip()) == 'iter_2.pth'

    newest = osp.join(work, 'iter_2.pth')  # now tear the newest complete checkpoint too
    with open(newest, 'r+b') as f:
        f.truncate(os.path.getsize(newest) // 3)
    resumed = subprocess.run(_with('fast_runner') + train + ['--resume']
                             + _cli_options(data_root, 3), env=_env(), cwd=REPO,
                             capture_output=True, text=True, timeout=300)
    out = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, out[-3000:]
    assert re.search(r'iter_2\.pth, which is truncated', out), out[-3000:]
    assert re.search(r'resuming from \S*iter_1\.pth', out)
    assert 'resumed epoch: 0, iter: 1' in out
    assert 'Iter(train) [2/3]' in out and 'Iter(train) [1/3]' not in out
    assert not _temps(work)
    assert _complete(osp.join(work, 'iter_3.pth')) == 3
    assert _complete(osp.join(work, 'iter_2.pth')) == 2  # rewritten whole by the resumed run
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert osp.basename(f.read().strip()) == 'iter_3.pth'


class _StartIter(Hook):
    """Records the iteration training starts from (after loading/resuming)."""
    priority = 'LOWEST'

    def before_train(self, runner):
        self.start = runner.iter


def _runner(data_root, work, max_iters, resume=False):
    cfg = Config.fromfile(TINY)
    cfg.merge_from_dict(_options(data_root, max_iters))
    cfg.work_dir, cfg.resume, cfg.launcher = work, resume, 'none'
    runner = Runner.from_cfg(cfg)
    probe = _StartIter()
    runner.register_hook(probe)
    return runner, probe


@pytest.fixture(scope='module')
def two_checkpoints(data_root, tmp_path_factory):
    """A work dir after 2 iterations: iter_1.pth, iter_2.pth, last_checkpoint."""
    work = str(tmp_path_factory.mktemp('two') / 'work')
    _runner(data_root, work, 2)[0].train()
    with open(osp.join(work, 'iter_2.pth'), 'rb') as f:
        return work, f.read()


def _link_checkpoints(src, work):
    """Hard-link the ``iter_*.pth`` of ``src`` into the new folder ``work``."""
    os.makedirs(work)
    for name in os.listdir(src):
        if name.startswith('iter_'):
            os.link(osp.join(src, name), osp.join(work, name))


@pytest.mark.parametrize('record', [b'', b'\xff\x00 garbage\n\n/nowhere/iter_9.pth'])
def test_resume_survives_an_empty_or_garbage_last_checkpoint(data_root, two_checkpoints,
                                                             tmp_path, record):
    src, _ = two_checkpoints
    work = str(tmp_path / 'work')
    _link_checkpoints(src, work)
    with open(osp.join(work, 'last_checkpoint'), 'wb') as f:
        f.write(record)
    runner, probe = _runner(data_root, work, 2, resume=True)
    runner.train()
    assert probe.start == 2  # resumed from iter_2.pth (nothing left to train)


def test_resume_refuses_when_every_checkpoint_is_torn(data_root, two_checkpoints, tmp_path,
                                                      monkeypatch, capsys):
    from dp_plugin.engine import ResumeError
    src, blob = two_checkpoints
    work = str(tmp_path / 'work')
    os.makedirs(work)
    for name, data in (('iter_1.pth', b''), ('iter_2.pth', blob[:len(blob) // 2])):
        with open(osp.join(work, name), 'wb') as f:
            f.write(data)
    with open(osp.join(work, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work, 'iter_2.pth'))
    runner, _ = _runner(data_root, work, 3, resume=True)
    with pytest.raises(ResumeError) as err:
        runner.train()
    msg = str(err.value)
    assert '\n' not in msg and 'iter_1.pth: empty' in msg and 'iter_2.pth: truncated' in msg
    # nothing was overwritten
    assert os.path.getsize(osp.join(work, 'iter_1.pth')) == 0
    assert os.path.getsize(osp.join(work, 'iter_2.pth')) == len(blob) // 2
    assert not osp.exists(osp.join(work, 'iter_3.pth'))
    # tools/train.py prints it as one line and exits non-zero
    train_tool = load_tool('train')
    monkeypatch.setattr(sys, 'argv', ['train.py', TINY, '--work-dir', work, '--resume']
                        + _cli_options(data_root, 3))
    with pytest.raises(SystemExit) as exit_:
        train_tool.main()
    assert str(exit_.value).startswith('error: --resume: no complete checkpoint')


def test_start_sweeps_temp_files_of_dead_writers_only(data_root, two_checkpoints, tmp_path):
    src, _ = two_checkpoints
    work = str(tmp_path / 'work')
    _link_checkpoints(src, work)
    with open(osp.join(work, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work, 'iter_2.pth'))
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    live = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])
    try:
        stale = osp.join(work, f'.iter_3.pth{TEMP}{dead.pid}-abcd1234')
        busy = osp.join(work, f'.iter_3.pth{TEMP}{live.pid}-abcd1234')
        for path in (stale, busy):
            open(path, 'wb').close()
        runner, probe = _runner(data_root, work, 2, resume=True)
        runner.train()
        assert probe.start == 2
        assert not osp.exists(stale)
        assert osp.exists(busy), 'the temporary file of a running writer was deleted'
    finally:
        live.kill()
        live.wait()


class _FakeRunner:
    """What CheckpointHook touches of a Runner; ``save_checkpoint`` records which
    checkpoints existed while each new one was written."""

    def __init__(self, work_dir):
        from mmengine.logging import MessageHub, MMLogger
        self.work_dir, self.iter, self.epoch = work_dir, 0, 0
        self.message_hub = MessageHub.get_instance(f'fake-{work_dir}')
        self.logger = MMLogger.get_instance('fake-runner')
        self.seen = {}

    def save_checkpoint(self, out_dir, filename, *args, backend_args=None, **kwargs):
        existing = sorted(n for n in os.listdir(out_dir) if n.endswith('.pth'))
        self.seen.setdefault(filename, existing)  # at its first save
        from mmengine.fileio import get_file_backend
        get_file_backend(out_dir, backend_args=backend_args).put(
            b'checkpoint', osp.join(out_dir, filename))


def test_retired_and_previous_best_checkpoints_are_deleted_after_the_new_one(tmp_path):
    from dp_plugin.engine import AtomicCheckpointHook
    runner = _FakeRunner(str(tmp_path))
    hook = AtomicCheckpointHook(interval=1, by_epoch=False, max_keep_ckpts=1, save_best='f1',
                                rule='greater')
    hook.before_train(runner)
    for it, f1 in ((1, 0.5), (2, 0.7)):
        runner.iter = it - 1
        hook.after_train_iter(runner, it - 1)
        runner.iter = it
        hook.after_val_epoch(runner, {'f1': f1})
    # while iter_2.pth and best_f1_iter_2.pth were written, their predecessors still existed
    assert 'iter_1.pth' in runner.seen['iter_2.pth']
    assert 'best_f1_iter_1.pth' in runner.seen['best_f1_iter_2.pth']
    assert sorted(os.listdir(tmp_path)) == ['best_f1_iter_2.pth', 'iter_2.pth', 'last_checkpoint']
    with open(tmp_path / 'last_checkpoint') as f:
        assert f.read() == str(tmp_path / 'iter_2.pth')
