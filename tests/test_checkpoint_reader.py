"""One weights-only reader (dp_plugin/utils/checkpoint_reader.py) behind every loader.

Each entry point -- the DnCNN modality loader, the Localizer's weights, MiT weights, the
TruFor/MMFusion converters, the DnCNN export and the linear probe -- refuses a pickle that
would run code with the same :class:`CheckpointFormatError` (file, expected, found) and
nothing in the pickle runs (a marker file stays absent).
"""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

from dp_plugin.apis.inference import load_state_dict_safely
from dp_plugin.modalities import DiffusionPrint, DnCNN
from dp_plugin.modalities.checkpoint_formats import infer_dncnn_arch, load_dncnn_state_dict
from dp_plugin.models.converters.checkpoint_io import load_weights_only
from dp_plugin.models.converters.mit_keys import load_mit_checkpoint
from dp_plugin.pretrain.export import dncnn_architecture, encoder_from_checkpoint
from dp_plugin.pretrain.linear_probe import load_frozen_encoder
from dp_plugin.utils.checkpoint_reader import CheckpointFormatError, read_weights
from _helpers import load_tool, ShellExploit

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


ENTRY_POINTS = {
    'modality': lambda p: DiffusionPrint(checkpoint=p),
    'modality_loader': lambda p: load_dncnn_state_dict(p, DnCNN(3, 8, depth=3, width=4)),
    'localizer': load_state_dict_safely,
    'mit_weights': load_mit_checkpoint,
    'converters': load_weights_only,
    'export': encoder_from_checkpoint,
    'linear_probe': load_frozen_encoder,
}


@pytest.mark.parametrize('entry', sorted(ENTRY_POINTS))
def test_every_entry_point_refuses_code_carrying_pickles_alike(entry, tmp_path):
    marker = tmp_path / 'pwned'
    evil = str(tmp_path / 'evil.pth')
    net = DnCNN(3, 8, depth=3, width=4)
    state = {f'online.encoder.{k}': v for k, v in net.state_dict().items()}
    torch.save({'state_dict': state, 'network': net.state_dict(), 'x': ShellExploit(marker)}, evil)
    with pytest.raises(CheckpointFormatError) as err:
        ENTRY_POINTS[entry](evil)
    assert type(err.value) is CheckpointFormatError
    message = str(err.value)
    assert message.startswith(f'{evil}: cannot load ') and 'refused to unpickle it' in message
    assert 'system' in message and 'weights_only=True' in message
    assert err.value.filename == evil and err.value.expected  # names what it wanted
    assert not marker.exists()


def test_converter_clis_print_the_refusal_in_one_line(tmp_path):
    marker = tmp_path / 'pwned'
    evil, out = str(tmp_path / 'evil.pth'), tmp_path / 'out.pth'
    torch.save({'state_dict': {'a': torch.zeros(1)}, 'x': ShellExploit(marker)}, evil)
    for tool, call in (('convert/trufor_to_dp', lambda m: m.convert(evil, str(out))),
                       ('convert/mmfusion_to_dp', lambda m: m.convert(evil, str(out))),
                       ('convert/mmfusion_to_dp', lambda m: m.reverse(evil, str(out)))):
        with pytest.raises(SystemExit) as err:
            call(load_tool(tool))
        text = str(err.value.code)
        assert len(text.splitlines()) == 1 and text.startswith(f'error: {evil}: ')
        assert 'refused to unpickle it' in text, text
    assert not marker.exists() and not out.exists()


def test_reader_loads_runner_checkpoints_and_safetensors(tmp_path):
    """The safe-globals allow-list applies (a message_hub HistoryBuffer loads), and a
    safetensors file is recognised by its header whatever its name."""
    buf = HistoryBuffer()
    buf.update(np.float64(0.5))
    runner = str(tmp_path / 'iter_1.pth')
    torch.save({'state_dict': {'w': torch.ones(2)}, 'message_hub': {'loss': buf}}, runner)
    obj, meta = read_weights(runner)
    assert meta is None and torch.equal(obj['state_dict']['w'], torch.ones(2))
    assert obj['message_hub']['loss'].current() == 0.5
    from safetensors.torch import save_file
    named_pth = str(tmp_path / 'weights.pth')
    save_file({'w': torch.arange(3.)}, named_pth, metadata={'k': 'v'})
    obj, meta = read_weights(named_pth)
    assert meta == {'k': 'v'} and torch.equal(obj['w'], torch.arange(3.))
    with open(runner, 'r+b') as f:
        f.truncate(200)
    with pytest.raises(CheckpointFormatError, match='not a readable PyTorch checkpoint'):
        read_weights(runner)
    with pytest.raises(FileNotFoundError, match='no such file'):
        read_weights(str(tmp_path / 'missing.pth'))


def test_one_dncnn_architecture_inference():
    """The export and the modality loader read the architecture with one function; a state
    dict that is not a DnCNN (convolutions not at 0, 2, 5, ...) is refused by both."""
    net = DnCNN(3, 8, depth=4, width=6)
    assert infer_dncnn_arch(net.state_dict()) == dict(in_channels=3, out_channels=8,
                                                      depth=4, width=6)
    assert dncnn_architecture(net.state_dict()) == dict(type='DnCNN', **infer_dncnn_arch(
        net.state_dict()))
    not_dncnn = {'0.weight': torch.zeros(4, 3, 3, 3), '1.weight': torch.zeros(8, 4, 3, 3)}
    assert infer_dncnn_arch(not_dncnn) is None
    with pytest.raises(ValueError, match='not a DnCNN'):
        dncnn_architecture(not_dncnn)


def test_torch_load_is_called_in_one_place_only():
    """``grep -rn "torch.load(" dp_plugin tools adapters`` shows only the reader."""
    hits = []
    for top in ('dp_plugin', 'tools', 'adapters'):
        for folder, _, files in os.walk(osp.join(ROOT, top)):
            for name in files:
                if not name.endswith('.py'):
                    continue
                path = osp.join(folder, name)
                with open(path, encoding='utf-8') as f:
                    hits += [(osp.relpath(path, ROOT), n) for n, line in enumerate(f, 1)
                             if 'torch.load(' in line]
    assert [h[0] for h in hits] == ['dp_plugin/utils/checkpoint_reader.py'], hits
