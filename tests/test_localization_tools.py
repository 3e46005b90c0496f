"""The configs under this project's tools and mmseg's packaged tools (tiny runs)."""
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import mmseg
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope

from dp_plugin.registry import MODELS
from tgif_fixture import make_tgif_fixture

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_SRM = osp.join(REPO, 'configs', 'lite_baseline', 'lite-baseline_mit-b0-tiny_srm_sim-128x128.py')
MMSEG_TRAIN = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('sim') / 'localization')
    make_tgif_fixture(root, generators=('simnn', 'simbl', 'simtc'), mask_types=('segm',),
                      n_per_split=1, size=32)
    return root


def _overrides(data_root):
    return ['--cfg-options'] + [f'{d}.dataset.data_root={data_root}' for d in
                                ('train_dataloader', 'val_dataloader', 'test_dataloader')] + [
        'train_dataloader.batch_size=2', 'train_dataloader.dataset.pipeline.4.crop_size=(32,32)',
        'model.data_preprocessor.size=(32,32)', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2', 'param_scheduler.0.end=2',
        'default_hooks.logger.interval=1']


def _run(args, cwd):
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='2')
    proc = subprocess.run([sys.executable] + args, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_jpeg_reaches_the_modality_before_extraction(data_root):
    """The modality sees the JPEG-compressed RGB (/255), never the pristine file."""
    cfg = Config.fromfile(TINY_SRM)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadForgeryAnnotation'),
                dict(type='RandomJPEGCompression', quality=(30, 30)),
                dict(type='PackSegInputs', meta_keys=cfg.meta_keys)]
    names = [t['type'] for t in cfg.train_pipeline]
    assert names.index('RandomJPEGCompression') < names.index('RandomCropPad')
    img_path = osp.join(data_root, 'original', 'training', os.listdir(
        osp.join(data_root, 'original', 'training'))[0])
    with DefaultScope.overwrite_default_scope('dp_plugin'):
        sample = Compose(pipeline)(dict(img_path=img_path, seg_map_path=None, label=0,
                                        generator='authentic', mask_type='none',
                                        reduce_zero_label=False, seg_fields=[]))
        model = MODELS.build(cfg.model).eval()
    seen = {}
    model.modality.register_forward_pre_hook(lambda m, a: seen.__setitem__('x', a[0]))
    data = model.data_preprocessor(pseudo_collate([sample]), training=False)
    with torch.no_grad():
        model.extract_feat(data['inputs'])
    bgr = cv2.imread(img_path, cv2.IMREAD_COLOR)
    jpeg = cv2.imdecode(cv2.imencode('.jpg', bgr, [cv2.IMWRITE_JPEG_QUALITY, 30])[1], cv2.IMREAD_COLOR)
    expected = torch.from_numpy(jpeg[..., ::-1].copy()).permute(2, 0, 1).float()[None] / 255
    assert torch.allclose(seen['x'], expected)
    pristine = torch.from_numpy(bgr[..., ::-1].copy()).permute(2, 0, 1).float()[None] / 255
    assert (seen['x'] - pristine).abs().mean() > 0.01


def test_tiny_config_under_mmseg_packaged_train_and_our_test(data_root, tmp_path):
    work = str(tmp_path / 'work')
    out = _run([MMSEG_TRAIN, TINY_SRM, '--work-dir', work] + _overrides(data_root), cwd=REPO)
    assert 'Forgery localization' in out and 'Authentic images' in out
    ckpt = osp.join(work, 'iter_2.pth')
    assert osp.isfile(ckpt)
    show = str(tmp_path / 'show')
    out = _run([osp.join(REPO, 'tools', 'test.py'), TINY_SRM, ckpt, '--work-dir', work,
                '--show-dir', show] + _overrides(data_root)[:4], cwd=REPO)
    assert '| generator | mask |' in out and 'simtc' in out
    rows = json.load(open(osp.join(work, 'per_image.json')))
    assert {r['generator'] for r in rows} == {'simnn', 'simbl', 'simtc', 'authentic'}
    assert all(0 <= r['f1'] <= 1 for r in rows if r['label'] == 1)
    pngs = os.listdir(show)
    figure = cv2.imread(osp.join(show, pngs[0]))  # image | GT | map | overlay, side by side
    assert len(pngs) == len(rows) and figure.shape[1] > 3 * figure.shape[0]
