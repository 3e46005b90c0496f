import json

import numpy as np
import pytest
import torch

from dp_plugin.evaluation import ForgeryLocalizationMetric
from dp_plugin.evaluation import functional as F


def square_gt(size=64, lo=16, hi=48):
    gt = np.zeros((size, size), np.uint8)
    gt[lo:hi, lo:hi] = 1
    return gt


def plain(prob, gt, t=0.5):
    return F.pixel_metrics(prob, gt, t)


def test_f1_perfect_inverted_and_half():
    gt = square_gt()
    prob = gt.astype(float)
    assert plain(prob, gt)['f1'] == 1.0
    # Inverted map: plain F1 is 0, TruFor-style F1 is polarity invariant.
    assert plain(1 - prob, gt)['f1'] == 0.0
    assert F.trufor_f1(1 - prob, gt) == 1.0
    assert F.trufor_f1(1 - prob, gt, threshold=None) == 1.0
    # Predicting the top half of the square: TP = 512, FN = 512 -> F1 = 2/3.
    half = np.zeros_like(prob)
    half[16:32, 16:48] = 1
    assert plain(half, gt)['f1'] == pytest.approx(2 / 3)
    assert plain(half, gt)['iou'] == pytest.approx(0.5)


def test_empty_masks_and_predictions():
    empty = np.zeros((32, 32), np.uint8)
    # TGIF / DiffusionPrint convention: empty GT and empty prediction -> 1, any positive -> 0.
    assert plain(np.zeros((32, 32)), empty)['f1'] == 1.0
    assert plain(np.full((32, 32), 0.9), empty)['f1'] == 0.0
    assert np.isnan(plain(np.random.rand(32, 32), empty)['auc'])
    assert F.f1_best(np.random.rand(32, 32), empty) == 1.0  # threshold above the max
    # TruFor: nothing certain-forged; best threshold 0, fixed threshold NaN (1x1 matrix).
    assert np.isnan(F.trufor_f1(np.zeros((32, 32)), empty))
    assert F.trufor_f1(np.zeros((32, 32)), empty, threshold=None) == 0.0
    stats = F.authentic_stats(np.where(np.arange(1024).reshape(32, 32) < 64, 0.8, 0.1))
    assert stats == {'fp_area': pytest.approx(64 / 1024), 'flagged': 1.0}
    assert F.authentic_stats(np.zeros((8, 8))) == {'fp_area': 0.0, 'flagged': 0.0}


def test_ignore_pixels_are_not_scored():
    gt = square_gt()
    prob = gt.astype(float)
    gt_ign = gt.copy()
    gt_ign[:, 56:] = 255
    prob_wrong = prob.copy()
    prob_wrong[:, 56:] = 1.0  # false positives only inside the ignored area
    assert plain(prob_wrong, gt_ign)['f1'] == 1.0
    assert plain(prob_wrong, gt)['f1'] < 1.0


def test_trufor_band_excludes_boundary():
    gt = square_gt()
    # Prediction dilated by 3 px: plain F1 < 1, the 15/11 band hides the error.
    prob = np.zeros((64, 64))
    prob[13:51, 13:51] = 1
    assert plain(prob, gt)['f1'] < 0.9
    assert F.trufor_f1(prob, gt) == 1.0


def test_best_f1_and_auc_match_brute_force():
    rng = np.random.default_rng(0)
    gt = square_gt()
    prob = np.clip(gt * 0.3 + rng.random(gt.shape) * 0.8, 0, 1).round(2)
    brute = max(plain(prob, gt, t)['f1'] for t in np.r_[np.unique(prob), -1.0])
    assert F.f1_best(prob, gt) == pytest.approx(brute, abs=1e-12)
    assert F.f1_best(prob, gt) >= plain(prob, gt)['f1']
    pos, neg = prob[gt == 1], prob[gt == 0]
    pairs = (pos[:, None] > neg[None]).mean() + 0.5 * (pos[:, None] == neg[None]).mean()
    assert plain(prob, gt)['auc'] == pytest.approx(pairs)
    assert F.roc_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert F.balanced_accuracy([0.9, 0.2, 0.7, 0.1], [1, 1, 0, 0]) == pytest.approx(0.5)


def _sample(prob, gt, generator, mask_type, label, score=None):
    logit = torch.log(torch.tensor(prob) + 1e-6) - torch.log(1 - torch.tensor(prob) + 1e-6)
    sample = dict(seg_logits=dict(data=torch.stack([torch.zeros_like(logit), logit]).float()),
                  gt_sem_seg=dict(data=torch.tensor(gt)[None]), img_path=f'{generator}.png',
                  generator=generator, mask_type=mask_type, label=label)
    if score is not None:
        sample['pred_score'] = torch.tensor(score)
    return sample


def test_metric_groups_authentic_apart_and_dumps_json(tmp_path):
    gt = square_gt(32, 8, 24)
    good = gt.astype(float) * 0.98 + 0.01
    out = tmp_path / 'per_image.json'
    metric = ForgeryLocalizationMetric(out_file=str(out))
    metric.dataset_meta = dict(classes=('authentic', 'forged'))
    metric.process({}, [
        _sample(good, gt, 'simnn', 'segm', 1, 0.9),
        _sample(1 - good, gt, 'simbl', 'segm', 1, 0.8),
        _sample(np.full((32, 32), 0.01), np.zeros((32, 32), np.uint8), 'authentic', 'none', 0, 0.1),
    ])
    res = metric.evaluate(3)
    assert res['simnn/segm/f1'] == pytest.approx(100.0)
    assert res['simbl/segm/f1'] == pytest.approx(0.0)
    assert res['simbl/segm/f1_trufor'] == pytest.approx(100.0)
    assert res['simbl/segm/f1_trufor_best'] == pytest.approx(100.0)
    # Authentic images are not averaged into F1.
    assert res['f1'] == pytest.approx(50.0)
    assert res['auth_fp_area'] == 0.0 and res['auth_flagged'] == 0.0
    assert res['det_auc'] == pytest.approx(100.0)
    rows = json.loads(out.read_text())
    assert [r['generator'] for r in rows] == ['simnn', 'simbl', 'authentic']
    assert rows[2]['fp_area'] == 0.0 and 'f1' not in rows[2]
