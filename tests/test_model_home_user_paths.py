"""The model home as a user without ``DP_PLUGIN_HOME`` meets it (issue 14 review).

Paths the suite's ``DP_PLUGIN_HOME`` fixture and plain ``{'state_dict': ...}``
checkpoints never took:

* the configs' default ``'{{$DP_PLUGIN_HOME:~/.cache/dp_plugin}}/...'`` becomes a path
  starting with ``~`` when the variable is unset; the segmentor's early check must expand
  it as the modality does, or every DiffusionPrint config fails "checkpoint not found"
  with the file in place;
* a file of random bytes must be called unreadable, with torch's reason, not "a pickle
  holding Python objects" with an empty reason.
"""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from dp_plugin.modalities import DnCNN
from dp_plugin.modalities.export_format import save_modality_export

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
DP_CONFIG = osp.join(REPO, 'configs', 'lite_baseline',
                     'lite-baseline_mit-b0-tiny_diffusionprint_sim-128x128.py')


def test_tiny_dp_config_finds_its_weights_under_the_default_home(tmp_path, monkeypatch):
    monkeypatch.delenv('DP_PLUGIN_HOME', raising=False)
    monkeypatch.setenv('HOME', str(tmp_path))
    weights = tmp_path / '.cache' / 'dp_plugin' / 'diffusionprint_tiny.safetensors'
    weights.parent.mkdir(parents=True)
    save_modality_export(str(weights), DnCNN(3, 16, depth=6, width=16).state_dict(), {})
    cfg = Config.fromfile(DP_CONFIG)
    assert cfg.model.modality.checkpoint.startswith('~')  # what a user without the variable gets
    init_default_scope('dp_plugin')
    from dp_plugin.registry import MODELS
    model = MODELS.build(cfg.model)
    assert model.modality.checkpoint == str(weights)


def test_random_bytes_are_called_unreadable_with_the_reason(tmp_path):
    """torch reports garbage as an ``UnpicklingError`` whose reason sits on the line after
    ``WeightsUnpickler error:``; the message must name it and not claim Python objects."""
    from dp_plugin.utils.checkpoint_reader import CheckpointFormatError, read_weights
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(bytes(range(19, 256)) * 20)  # starts with opcode 19: no pickle
    with pytest.raises(CheckpointFormatError) as err:
        read_weights(str(junk))
    message = str(err.value)
    assert 'not a readable PyTorch checkpoint' in message, message
    assert 'Unsupported operand' in message and 'error: )' not in message, message
