"""A runner checkpoint's stored config (``meta['cfg']``) is data, never code: the export
and the linear probe read it without running it (``Config.fromstring`` executes the text,
so a weights-only checkpoint could run anything through it)."""
import os

import pytest
import torch
from mmengine.config import Config

from dp_plugin.modalities.dncnn import DnCNN
from dp_plugin.modalities.export_format import read_export_metadata
from dp_plugin.pretrain.export import export_backbone
from dp_plugin.pretrain.linear_probe import load_frozen_encoder
from _helpers import REPO


def _checkpoint(path, cfg_text):
    torch.manual_seed(0)
    enc = DnCNN(depth=3, width=8, out_channels=8)
    state = {f'online.encoder.{k}': v for k, v in enc.state_dict().items()}
    torch.save(dict(state_dict=state, meta=dict(cfg=cfg_text)), path)
    return path


def test_stored_config_is_read_as_data_not_run(tmp_path):
    """Code in ``meta['cfg']`` is refused with one line naming the key and never runs
    (export, probe); ``--config`` skips the stored text; a real dump still gives the
    export its filter and generators."""
    marker = tmp_path / 'ran'
    text = f"_x = open({str(marker)!r}, 'w').write('1')\nmodel = dict(type='X')\n"
    ckpt = _checkpoint(str(tmp_path / 'epoch_1.pth'), text)
    for load in (lambda: export_backbone(ckpt, str(tmp_path / 'dp.safetensors')),
                 lambda: load_frozen_encoder(ckpt)):
        with pytest.raises(ValueError, match=r"meta\['cfg'\].*not plain data.*not run"):
            load()
        assert not marker.exists()
    assert not (tmp_path / 'dp.safetensors').exists()
    # with --config the stored text is not read at all
    cfg = os.path.join(REPO, 'configs', 'pretrain', 'diffusionprint_tiny_cpu.py')
    export_backbone(ckpt, str(tmp_path / 'dp.safetensors'), config=cfg)
    assert not marker.exists()
    assert read_export_metadata(str(tmp_path / 'dp.safetensors'))['generators'] == \
        ['simnn', 'simbl', 'simtc']
    # the Runner's real dump (Config.pretty_text) of a filtered tiny twin still reads
    cfg = Config.fromfile(os.path.join(REPO, 'configs', 'pretrain',
                                       'diffusionprint_tiny_cpu_authors_script.py'))
    cfg.model.data_preprocessor.input_highpass = dict(type='gaussian', sigma=1.0)
    ckpt = _checkpoint(str(tmp_path / 'epoch_1.pth'), cfg.pretty_text)
    meta = export_backbone(ckpt, str(tmp_path / 'dp.safetensors'))
    assert meta['input_highpass'] == dict(type='gaussian', sigma=1.0)
    assert meta['generators'] == ['simnn', 'simbl', 'simtc']
