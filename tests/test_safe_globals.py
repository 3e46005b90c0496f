"""MMEngine runner checkpoints load under weights_only=True; arbitrary pickles still do not."""
import os
import pickle
import pickletools
import zipfile

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer
from mmengine.model import BaseModel
from mmengine.runner import CheckpointLoader, Runner, load_checkpoint
from torch.utils.data import Dataset

import dp_plugin  # noqa: F401  (registers the allow-list)
from _helpers import ShellExploit


class _TinyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 1)

    def forward(self, x, mode='loss'):
        out = self.fc(torch.stack(x) if isinstance(x, (list, tuple)) else x)
        return dict(loss=out.pow(2).mean()) if mode == 'loss' else out


class _TinyData(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(x=torch.full((2,), float(i)))


def _runner(work_dir, max_iters, **kwargs):
    return Runner(
        model=_TinyModel(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=_TinyData(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=True),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        param_scheduler=dict(type='LinearLR', by_epoch=False, begin=0, end=4),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False),
                           logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0), **kwargs)


def _pickled_globals(path):
    with zipfile.ZipFile(path) as zf:
        data = zf.read(next(n for n in zf.namelist() if n.endswith('data.pkl')))
    return {arg.replace(' ', '.') for op, arg, _ in pickletools.genops(data)
            if op.name == 'GLOBAL'}


def test_real_runner_checkpoint_loads_and_resumes(tmp_path):
    _runner(tmp_path / 'a', max_iters=2).train()
    ckpt = str(tmp_path / 'a' / 'iter_2.pth')
    # It really holds the objects that break weights-only loading without the allow-list.
    found = _pickled_globals(ckpt)
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in found
    assert '__builtin__.getattr' in found

    raw = CheckpointLoader.load_checkpoint(ckpt, map_location='cpu')
    assert isinstance(raw['message_hub']['log_scalars']['train/loss'], HistoryBuffer)
    model = _TinyModel()
    load_checkpoint(model, ckpt, map_location='cpu')
    assert torch.equal(model.fc.weight, raw['state_dict']['fc.weight'])

    resumed = _runner(tmp_path / 'b', max_iters=3, load_from=ckpt, resume=True)
    resumed.train()
    assert resumed.iter == 3
    assert resumed.message_hub.get_scalar('train/loss').mean() >= 0


class _GetattrExploit:
    """Abuses the (restricted) getattr name to reach something other than a method."""

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


class _NumpyGetattrExploit:

    def __reduce__(self):
        return getattr, (np.ndarray, 'tofile')


def test_malicious_pickles_are_still_refused(tmp_path):
    marker = tmp_path / 'pwned'
    evil = str(tmp_path / 'evil.pth')
    torch.save({'state_dict': {'w': torch.ones(1)}, 'meta': ShellExploit(marker)}, evil)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(evil, map_location='cpu')
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(_TinyModel(), evil, map_location='cpu')
    assert not marker.exists()
    for i, exploit in enumerate([_GetattrExploit(), _NumpyGetattrExploit()]):
        path = str(tmp_path / f'getattr{i}.pth')
        torch.save({'x': exploit}, path)
        with pytest.raises(pickle.UnpicklingError):
            torch.load(path, map_location='cpu', weights_only=True)


def test_weights_only_is_not_switched_off():
    assert os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD') is None
    assert getattr not in torch.serialization.get_safe_globals()
