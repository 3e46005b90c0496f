"""The model home: one documented place for dp-localize's default model and the
DiffusionPrint weights of the configs (issue 14), never the working directory (issue 15
item 9: a planted ``demo_out/models/lite_dp/config.py`` must not run)."""
import glob
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from dp_plugin.apis.localize_cli import main
from dp_plugin.utils import model_home
from _helpers import TINY_CONFIG, load_tool, save_random_model

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture
def home(tmp_path, monkeypatch):
    folder = tmp_path / 'home'
    monkeypatch.setenv('DP_PLUGIN_HOME', str(folder))
    return folder


@pytest.fixture
def tiny_model(tmp_path):
    config = tmp_path / 'trained' / 'config.py'
    config.parent.mkdir()
    config.write_text(TINY_CONFIG)
    checkpoint = config.parent / 'best_mIoU_iter_2.pth'
    save_random_model(str(config), str(checkpoint), wrap=True)
    return str(config), str(checkpoint)


def _image(path):
    Image.fromarray(np.full((40, 40, 3), 128, np.uint8)).save(path)
    return str(path)


def test_model_home_is_the_env_var_else_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.setenv('DP_PLUGIN_HOME', str(tmp_path / 'mine'))
    assert model_home.model_home() == str(tmp_path / 'mine')
    assert model_home.default_model() == (
        str(tmp_path / 'mine' / 'models' / 'lite_dp' / 'config.py'),
        str(tmp_path / 'mine' / 'models' / 'lite_dp' / 'best.pth'))
    monkeypatch.delenv('DP_PLUGIN_HOME')
    monkeypatch.setenv('HOME', str(tmp_path / 'user'))
    monkeypatch.chdir(tmp_path)
    assert model_home.model_home() == str(tmp_path / 'user' / '.cache' / 'dp_plugin')
    monkeypatch.setenv('DP_PLUGIN_HOME', '')
    with pytest.raises(ValueError, match='set but empty'):
        model_home.model_home()


def test_planted_cwd_config_is_never_executed(tmp_path, home, monkeypatch, capsys):
    """Issue 15 item 9: a folder with a planted demo_out/ must not run code."""
    marker = tmp_path / 'EXECUTED'
    planted = tmp_path / 'demo_out' / 'models' / 'lite_dp'
    planted.mkdir(parents=True)
    (planted / 'config.py').write_text(f'open({str(marker)!r}, "w").close()\n')
    torch.save({}, planted / 'best.pth')
    image = _image(tmp_path / 'a.png')
    monkeypatch.chdir(tmp_path)
    assert main([image, '-o', str(tmp_path / 'out')]) == 2
    assert not marker.exists()
    err = capsys.readouterr().err
    assert str(home / 'models' / 'lite_dp' / 'config.py') in err
    assert 'no default model installed' in err and '--install-model' in err


def test_install_model_then_the_default_is_found_from_anywhere(tmp_path, home, tiny_model,
                                                               monkeypatch, capsys):
    config, checkpoint = tiny_model
    assert main(['--install-model', '--config', config, '--checkpoint', checkpoint]) == 0
    installed_config, installed_checkpoint = model_home.default_model()
    assert open(installed_config).read() == TINY_CONFIG
    state = torch.load(installed_checkpoint, weights_only=True)
    assert set(state) == set(torch.load(checkpoint, weights_only=True)['state_dict'])
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    image = _image(elsewhere / 'a.png')
    capsys.readouterr()
    assert main([image, '-o', 'out', '--device', 'cpu', '--no-overlay']) == 0
    assert osp.isfile(elsewhere / 'out' / 'a.png.npz')
    assert f'executing config {installed_config}' in capsys.readouterr().err


def test_install_model_refuses_a_bad_checkpoint_and_keeps_the_old_default(
        tmp_path, home, tiny_model, capsys):
    config, checkpoint = tiny_model
    assert main(['--install-model', '--config', config, '--checkpoint', checkpoint]) == 0
    before = open(model_home.default_model()[1], 'rb').read()
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(b'not a checkpoint')
    assert main(['--install-model', '--config', config, '--checkpoint', str(junk)]) == 2
    assert 'cannot install the model' in capsys.readouterr().err
    assert open(model_home.default_model()[1], 'rb').read() == before
    with pytest.raises(SystemExit):  # --install-model without the files to install
        main(['--install-model'])


def _dp_checkpoints(cfg):
    model = cfg.get('model', {})
    entries = [model.get('modality')] + list(model.get('modalities') or [])
    return [e['checkpoint'] for e in entries
            if isinstance(e, dict) and e.get('type') == 'DiffusionPrint' and e.get('checkpoint')]


def test_every_config_reads_diffusionprint_weights_from_the_model_home(home):
    """One default location: configs, demo and README agree (no work_dirs/ or demo_out/)."""
    found = {}
    for path in glob.glob(osp.join(REPO, 'configs', '**', '*.py'), recursive=True):
        if '_base_' not in path:
            for checkpoint in _dp_checkpoints(Config.fromfile(path)):
                found[osp.relpath(path, REPO)] = checkpoint
    assert len(found) >= 14
    tiny = {p for p, c in found.items() if c == str(home / model_home.DP_TINY_WEIGHTS)}
    full = {p for p, c in found.items() if c == str(home / model_home.DP_WEIGHTS)}
    assert tiny | full == set(found), found
    assert tiny == {p for p in found if 'tiny' in p}
    readme = open(osp.join(REPO, 'README.md')).read()
    assert 'work_dirs/pretrain' not in readme and '$DP_PLUGIN_HOME' in readme


def test_config_default_without_the_env_var_expands_to_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.delenv('DP_PLUGIN_HOME')
    monkeypatch.setenv('HOME', str(tmp_path))
    cfg = Config.fromfile(osp.join(
        REPO, 'configs', 'lite_baseline', 'lite-baseline_mit-b0-tiny_diffusionprint_sim-128x128.py'))
    checkpoint = cfg.model.modality.checkpoint
    assert checkpoint == '~/.cache/dp_plugin/diffusionprint_tiny.safetensors'
    from dp_plugin.modalities import DiffusionPrint
    expanded = re.escape(str(tmp_path / '.cache' / 'dp_plugin'))
    with pytest.raises(FileNotFoundError, match=expanded):
        DiffusionPrint(checkpoint=checkpoint, depth=2, width=4, out_channels=4)


def test_demo_installs_its_dp_model_and_export_in_the_model_home(tmp_path, home, tiny_model):
    demo = load_tool('demo')
    plan = demo.Plan(str(tmp_path / 'demo_out'), claims=False, noiseprint='')
    config, checkpoint = tiny_model
    work = plan.lite_work('DP')
    os.makedirs(work)
    for src, dst in ((config, 'lite_dp_config.py'), (checkpoint, 'best_mIoU_iter_2.pth')):
        with open(src, 'rb') as fh, open(osp.join(work, dst), 'wb') as out:
            out.write(fh.read())
    os.makedirs(osp.dirname(plan.export))
    with open(plan.export, 'wb') as fh:
        fh.write(b'export bytes')
    action = plan.install_lite('DP')
    assert str(home / model_home.DP_TINY_WEIGHTS) in action.outputs
    action.fn()
    assert (home / model_home.DP_TINY_WEIGHTS).read_bytes() == b'export bytes'
    installed_config, installed_checkpoint = model_home.default_model()
    assert open(installed_config).read() == TINY_CONFIG
    assert set(torch.load(installed_checkpoint, weights_only=True)) == set(
        torch.load(checkpoint, weights_only=True)['state_dict'])
