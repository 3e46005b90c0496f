"""The pretraining tools refuse code-carrying or corrupt checkpoints with one line, exit 2,
and nothing executed (issue 15, item 13), as dp-localize does."""
import os.path as osp

import pytest
import torch

from dp_plugin.modalities import DnCNN
from pretrain_synth import make_patch_set, one_thread  # noqa: F401 (autouse)
from _helpers import load_tool, ShellExploit


@pytest.fixture(scope='module')
def patch_set(tmp_path_factory):
    return make_patch_set(str(tmp_path_factory.mktemp('probe')), n_real=1, n_gen=1, size=64)


@pytest.mark.parametrize('tool', ['export_backbone', 'linear_probe'])
def test_tools_refuse_code_carrying_pickles_in_one_line(tool, tmp_path, capsys, patch_set):
    marker = tmp_path / 'pwned'
    evil = str(tmp_path / 'epoch_1.pth')
    net = DnCNN(3, 8, depth=3, width=4)
    state = {f'online.encoder.{k}': v for k, v in net.state_dict().items()}
    torch.save({'state_dict': state, 'meta': {}, 'x': ShellExploit(marker)}, evil)
    second = str(tmp_path / 'out.safetensors') if tool == 'export_backbone' else patch_set
    assert load_tool(tool).main([evil, second]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: '), err
    assert evil in err[0] and 'refused to unpickle' in err[0] and 'system' in err[0]
    assert not marker.exists()
    assert not osp.exists(tmp_path / 'out.safetensors')
    # a truncated checkpoint is one line too
    with open(evil, 'rb') as f:
        head = f.read(300)
    with open(evil, 'wb') as f:
        f.write(head)
    assert load_tool(tool).main([evil, second]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'not a readable PyTorch checkpoint' in err[0], err
