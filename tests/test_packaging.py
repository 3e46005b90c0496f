"""What a wheel of dp-plugin ships and how the package names its parts (issue 14):
configs and tools under ``dp_plugin/.mim/`` (the OpenMMLab convention ``mim train``
relies on), ``adapters`` only as ``dp_plugin.adapters``, one OpenCV flavour, and the
4-line recipe that turns one of mmseg's own configs into a forensic model."""
import collections
import os
import os.path as osp
import shutil
import subprocess
import sys
import warnings
import zipfile

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

import dp_plugin
from dp_plugin import _opencv_check

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


@pytest.fixture(scope='module')
def wheel_names(tmp_path_factory):
    """File names in a wheel built from a copy of the checkout's files (a few seconds)."""
    if shutil.which('git') is None or not osp.exists(osp.join(REPO, '.git')):
        pytest.skip('needs a git checkout to list the source files')
    root = tmp_path_factory.mktemp('wheel')
    files = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard', '-z'], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split('\0')
    for name in filter(None, files):
        if osp.isfile(osp.join(REPO, name)):
            os.makedirs(osp.dirname(osp.join(root, 'src', name)), exist_ok=True)
            shutil.copy2(osp.join(REPO, name), osp.join(root, 'src', name))
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                    '-q', '-w', str(root / 'dist'), str(root / 'src')], check=True,
                   capture_output=True)
    (wheel,) = os.listdir(root / 'dist')
    with zipfile.ZipFile(root / 'dist' / wheel) as zf:
        return zf.namelist(), {n: zf.read(n).decode() for n in zf.namelist()
                               if n.endswith(('top_level.txt', '/METADATA',
                                              'entry_points.txt'))}


def test_wheel_ships_configs_and_tools_under_mim(wheel_names):
    names, _ = wheel_names
    configs = sorted(osp.relpath(p, osp.join(REPO, 'configs')) for p in
                     _walk(osp.join(REPO, 'configs')))
    tools = sorted(osp.relpath(p, osp.join(REPO, 'tools')) for p in _walk(osp.join(REPO, 'tools')))
    assert [n for n in configs if f'dp_plugin/.mim/configs/{n}' not in names] == []
    assert [n for n in tools if f'dp_plugin/.mim/tools/{n}' not in names] == []
    assert not [n for n in names if '__pycache__' in n or n.endswith('.pyc')]


def test_mim_finds_every_config_by_its_name(wheel_names):
    """``mim train dp_plugin NAME`` looks the config up by file name anywhere in the
    installed package (openmim 0.3.9 ``recursively_find``): names must be unique."""
    names, _ = wheel_names
    counts = collections.Counter(osp.basename(n) for n in names if n.startswith('dp_plugin/'))
    configs = [n for n in names if n.startswith('dp_plugin/.mim/configs/')
               and '/_base_/' not in n]
    assert len(configs) > 40
    assert [n for n in configs if counts[osp.basename(n)] > 1] == []


def test_adapters_install_only_under_the_project_namespace(wheel_names):
    names, meta = wheel_names
    assert {'dp_plugin/adapters/__init__.py', 'dp_plugin/adapters/trufor.py',
            'dp_plugin/adapters/mmfusion.py'} <= set(names)
    assert [n for n in names if not n.startswith(('dp_plugin/', 'dp_plugin-'))] == []
    (top_level,) = [v for k, v in meta.items() if k.endswith('top_level.txt')]
    assert top_level.split() == ['dp_plugin']
    (metadata,) = [v for k, v in meta.items() if k.endswith('/METADATA')]
    opencv = [line for line in metadata.splitlines()
              if line.startswith('Requires-Dist: opencv')]
    assert opencv == []  # mmengine/mmcv already require opencv-python: no second flavour


def test_dp_localize_is_a_console_script_that_parses_before_torch(wheel_names):
    """``dp-localize`` is a ``console_scripts`` entry point like ``dp-simulate`` (no
    script file under ``*.data/scripts``); the object it names answers ``--help``
    without importing torch, mmseg or numpy (pip's wrapper: ``sys.exit(func())``)."""
    names, meta = wheel_names
    assert [n for n in names if '.data/scripts/' in n] == []
    (entry_points,) = [v for k, v in meta.items() if k.endswith('entry_points.txt')]
    scripts = dict(line.replace(' ', '').split('=', 1) for line in entry_points.splitlines()
                   if '=' in line)
    assert set(scripts) == {'dp-localize', 'dp-simulate'}
    module, func = scripts['dp-localize'].split(':')
    res = subprocess.run(
        [sys.executable, '-c', f'import sys\nsys.argv = ["dp-localize", "--help"]\n'
         f'from {module} import {func}\ntry:\n    sys.exit({func}())\nfinally:\n'
         '    print(sorted(m for m in ("torch", "mmseg", "numpy") if m in sys.modules))'],
        env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert 'usage: dp-localize' in res.stdout and res.stdout.splitlines()[-1] == '[]'


def test_adapters_import_as_dp_plugin_adapters_in_a_clone():
    from dp_plugin.adapters import mmfusion, trufor
    assert trufor.__file__ == osp.join(REPO, 'adapters', 'trufor.py')
    assert mmfusion.__file__ == osp.join(REPO, 'adapters', 'mmfusion.py')
    assert callable(trufor.patch_trufor_from_cfg)


def test_config_path_names_packaged_configs():
    name = 'lite_baseline/lite-baseline_mit-b0-tiny_srm_sim-128x128.py'
    path = dp_plugin.config_path(name)
    assert path == osp.join(REPO, 'configs', name)  # a clone uses its own configs/
    assert dp_plugin.config_path('dp_plugin::' + name) == path
    assert Config.fromfile(path).model.modality.type == 'SRM'
    with pytest.raises(FileNotFoundError, match='ships no config'):
        dp_plugin.config_path('lite_baseline/nope.py')
    with pytest.raises(FileNotFoundError, match='ships no config'):
        dp_plugin.config_path('../setup.py')


def test_two_opencv_flavours_give_one_clear_warning(monkeypatch):
    import importlib.metadata as metadata
    installed = {'opencv-python', 'opencv-python-headless'}

    def fake(name):
        if name not in installed:
            raise metadata.PackageNotFoundError(name)
        return object()

    monkeypatch.setattr(metadata, 'distribution', fake)
    with pytest.warns(RuntimeWarning, match='opencv-python, opencv-python-headless.*pip '
                      'uninstall -y opencv-python opencv-python-headless'):
        _opencv_check.warn_if_several_opencv()
    installed.discard('opencv-python')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        _opencv_check.warn_if_several_opencv()


SEGFORMER = osp.join(osp.dirname(__import__('mmseg').__file__), '.mim', 'configs', 'segformer',
                     'segformer_mit-b0_8xb2-160k_ade20k-512x512.py')
#: docs/install.md's recipe, with mmseg's config named by its file path (the
#: ``mmseg::segformer/...`` form needs ``pkg_resources``, absent from setuptools >= 81).
RECIPE = """_base_ = [{base!r}]
custom_imports = dict(imports=['dp_plugin'], allow_failed_imports=False)
default_scope = 'dp_plugin'
model = dict(_scope_='dp_plugin',                          # an mmseg:: base stamps 'mmseg'
             type='LiteBaseline',                          # 1. two streams: RGB + modality
             modality=dict(type='SRM'),                    # 2. the forensic modality
             data_preprocessor=dict(mean=None, std=None),  # 3. modalities need raw pixels
             decode_head=dict(num_classes=2))              # 4. pristine / forged
"""


def test_four_line_recipe_turns_mmseg_segformer_into_a_forensic_model(tmp_path):
    if not osp.isfile(SEGFORMER):
        pytest.skip(f'mmseg ships no {SEGFORMER}')
    docs = open(osp.join(REPO, 'docs', 'install.md')).read()
    for line in RECIPE.splitlines()[1:]:
        assert line in docs, line
    config = tmp_path / 'my_config.py'
    config.write_text(RECIPE.format(base=SEGFORMER))
    cfg = Config.fromfile(str(config))
    init_default_scope(cfg.default_scope)
    from dp_plugin.registry import MODELS
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'LiteBaseline' and model.decode_head.num_classes == 2
    assert list(model.decode_head.in_channels) == [32, 64, 160, 256]  # mmseg's MiT-B0 kept
    with torch.no_grad():
        logits = model(torch.rand(1, 3, 64, 64) * 255, mode='tensor')
    assert logits.shape == (1, 2, 16, 16)
    cfg.model.data_preprocessor.mean = [123.675, 116.28, 103.53]  # without line 3
    with pytest.raises(ValueError, match='mean=None'):
        MODELS.build(cfg.model)
    # Named as ``mmseg::segformer/...``, mmengine stamps ``_scope_='mmseg'`` on the base's
    # dicts (pkg_resources is needed for that form, so the stamp is written by hand here):
    # the recipe's ``_scope_`` keeps LiteBaseline in dp_plugin's registry.
    (tmp_path / 'stamped.py').write_text(f"_base_ = [{SEGFORMER!r}]\nmodel = dict(_scope_='mmseg')\n")
    config.write_text(RECIPE.format(base=str(tmp_path / 'stamped.py')))
    cfg = Config.fromfile(str(config))
    assert type(MODELS.build(cfg.model)).__name__ == 'LiteBaseline'


def _walk(root):
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != '__pycache__']
        yield from (osp.join(folder, f) for f in files if not f.endswith('.pyc'))
