"""One metric implementation: ``ForgeryLocalizationMetric`` (hence ``tools/test.py``),
``ForgeryHeatmapHook`` and ``dp-localize --masks`` give the same numbers for the same maps.

``dp-localize`` had its own F1/IoU (NaN on empty masks, best F1 over 1000 bins) and
reported 52.9 where ``tools/test.py`` reported 53.0 for the same maps.
"""
import json
import os
import os.path as osp
import re
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from dp_plugin.apis import localize_cli
from dp_plugin.evaluation import ForgeryHeatmapHook, ForgeryLocalizationMetric
from dp_plugin.evaluation.forgery_metric import LOC_KEYS, format_scores
from tgif_fixture import make_tgif_fixture

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_SRM = osp.join(REPO, 'configs', 'lite_baseline',
                    'lite-baseline_mit-b0-tiny_srm_sim-128x128.py')


def _maps():
    rng = np.random.default_rng(5)
    square = np.zeros((48, 48), np.uint8)
    square[10:40, 8:38] = 1
    tiny = np.zeros((48, 48), np.uint8)
    tiny[20:25, 20:25] = 1
    thin = np.zeros((48, 48), np.uint8)
    thin[30:32, :] = 1
    return [
        (rng.random((48, 48)).astype(np.float32) * 0.6 + 0.4 * square, square),
        (rng.choice([0.0, 0.5, 1.0], (48, 48)).astype(np.float32), square),  # quantised
        ((np.round(rng.random((48, 48)) * 8) / 8).astype(np.float32), tiny),
        (rng.random((48, 48)).astype(np.float32), thin),
        (np.zeros((48, 48), np.float32), square),  # nothing found
        (rng.random((48, 48)).astype(np.float32) * 0.7, np.zeros((48, 48), np.uint8)),
    ]


def _sample(prob, gt):
    # one logit channel = probabilities (mmseg has applied the sigmoid)
    return dict(seg_logits=dict(data=torch.from_numpy(prob)[None]),
                gt_sem_seg=dict(data=torch.from_numpy(gt.astype(np.int64))[None]),
                img_path='x.png', generator='g', mask_type='m')


def test_metric_hook_and_dp_localize_score_a_map_identically():
    metric = ForgeryLocalizationMetric()
    hook = ForgeryHeatmapHook(out_dir='unused')
    for prob, gt in _maps():
        metric.results = []
        metric.process({}, [_sample(prob, gt)])
        row = metric.results[0]
        cli = localize_cli.mask_scores(prob, gt, 0.5)
        assert set(cli) == set(row) - {'img_path', 'generator', 'mask_type', 'label'}
        for key, value in cli.items():
            assert value == row[key] or (np.isnan(value) and np.isnan(row[key])), key
        assert hook.caption(prob, gt) == format_scores(row)
    assert 'F1-best TruFor' in hook.caption(*_maps()[0])


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    """A random-weight tiny Lite Baseline (SRM) and a TGIF-layout testing split."""
    tmp = tmp_path_factory.mktemp('consistency')
    root = str(tmp / 'data')
    make_tgif_fixture(root, generators=('simnn', 'simbl'), mask_types=('segm', 'random'),
                      n_per_split=1, size=40)
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from dp_plugin.registry import MODELS
    init_default_scope('dp_plugin')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(TINY_SRM).model)
    checkpoint = str(tmp / 'random.pth')
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    return tmp, root, checkpoint


def test_tools_test_and_dp_localize_print_the_same_numbers(tiny_run):
    tmp, root, checkpoint = tiny_run
    work = str(tmp / 'work')
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'test.py'), TINY_SRM, checkpoint,
         '--work-dir', work, '--cfg-options', f'test_dataloader.dataset.data_root={root}'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = json.load(open(osp.join(work, 'per_image.json')))
    forged = [r for r in rows if r['label'] == 1]
    assert len(forged) == 4 and len(rows) == 5

    # The same images for dp-localize, each mask stored under its image's relative path.
    masks = tmp / 'masks'
    lines = []
    for name in sorted(os.listdir(osp.join(root, 'lists'))):
        if name.startswith('testing_'):
            lines += open(osp.join(root, 'lists', name)).read().split()
    for image, mask in zip(lines[0::3], lines[1::3]):
        target = masks / image
        target.parent.mkdir(parents=True, exist_ok=True)
        if mask == 'None':
            cv2.imwrite(str(target), np.zeros((40, 40), np.uint8))
        else:
            shutil.copy(osp.join(root, mask), target)
    out = str(tmp / 'localize')
    torch.set_num_threads(1)
    inputs = [osp.join(root, d, 'testing') for d in ('original', 'simnn-fr', 'simbl-fr')]
    assert localize_cli.main(inputs + ['-o', out, '--config', TINY_SRM, '--checkpoint', checkpoint,
                              '--device', 'cpu', '--masks', str(masks), '--no-overlay']) == 0
    summary = {osp.relpath(r['input'], root): r
               for r in json.load(open(osp.join(out, 'summary.json')))['images']}
    for row in rows:
        cli = summary[osp.relpath(row['img_path'], root)]
        keys = LOC_KEYS if row['label'] == 1 else ('fp_area', 'flagged')
        for key in keys:
            if row[key] is None:
                assert cli[key] is None, key
            else:
                assert cli[key] == pytest.approx(row[key], abs=1e-6), (row['img_path'], key)

    # tools/test.py's printed all/all line holds the means of dp-localize's per-image values.
    line = next(ln for ln in proc.stdout.splitlines() + proc.stderr.splitlines()
                if re.match(r'\|\s*all\s*\|\s*all\s*\|', ln))
    printed = [c.strip() for c in line.strip('|').split('|')][3:]
    cli_rows = [summary[osp.relpath(r['img_path'], root)] for r in forged]
    for key, text in zip(LOC_KEYS, printed):
        values = [r[key] for r in cli_rows if r[key] is not None]
        assert text == (f'{100 * np.mean(values):.2f}' if values else '-'), key
