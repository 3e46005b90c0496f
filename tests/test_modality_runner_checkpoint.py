"""``DiffusionPrint(checkpoint='epoch_N.pth')`` on a pretraining runner checkpoint.

Such a checkpoint stores its config (``meta['cfg']``) and MMEngine's message hub
(``HistoryBuffer`` objects). The modality must (1) read it in a process that imported
nothing but the modality (the allow-list of runner-checkpoint objects is registered by
the reader itself, not by whichever module happened to be imported first) and (2) apply
the input filter the run was trained with, as the export does, or refuse another one.
"""
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import HistoryBuffer

from dp_plugin.modalities.checkpoint_formats import CheckpointFormatError
from dp_plugin.modalities.diffusionprint import DiffusionPrint
from dp_plugin.modalities.dncnn import DnCNN
from dp_plugin.pretrain.export import export_backbone
from _helpers import REPO

ARCH = dict(depth=3, width=8, out_channels=8)


def _runner_checkpoint(path, input_highpass):
    torch.manual_seed(0)
    enc = DnCNN(**ARCH)
    state = {f'online.encoder.{k}': v for k, v in enc.state_dict().items()}
    cfg = Config(dict(model=dict(type='DiffusionPrintPretrainer', data_preprocessor=dict(
        type='PatchPairDataPreprocessor', input_highpass=input_highpass))))
    loss = HistoryBuffer()
    loss.update(1.5)
    hub = dict(log_scalars={'train/loss': loss})
    torch.save(dict(state_dict=state, meta=dict(cfg=cfg.pretty_text), message_hub=hub), path)
    return str(path)


def test_runner_checkpoint_loads_in_a_fresh_process(tmp_path):
    ckpt = _runner_checkpoint(tmp_path / 'epoch_1.pth', None)
    code = ('from dp_plugin.modalities.diffusionprint import DiffusionPrint\n'
            f'm = DiffusionPrint(checkpoint={ckpt!r}, **{ARCH!r})\n'
            "print('width', m.dncnn[0].out_channels)\n")
    run = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert 'width 8' in run.stdout


def test_runner_checkpoint_filter_is_applied_like_the_export(tmp_path):
    ckpt = _runner_checkpoint(tmp_path / 'epoch_1.pth', 0.1)
    export = str(tmp_path / 'dp.safetensors')
    export_backbone(ckpt, export)
    direct, exported = DiffusionPrint(checkpoint=ckpt, **ARCH), DiffusionPrint(checkpoint=export)
    assert direct.input_highpass == exported.input_highpass == 0.1
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(direct.eval()(x), exported.eval()(x))
    for other in (0.2, 0):  # another cut-off, or forcing the filter off
        with pytest.raises(CheckpointFormatError, match=r'input filter 0\.1.*input_highpass'):
            DiffusionPrint(checkpoint=ckpt, input_highpass=other, **ARCH)
