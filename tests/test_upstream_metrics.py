"""The metric implementation against transcriptions of TruFor's, MMFusion's and
DiffusionPrint's published metric definitions, on the same maps, to 1e-9.

The transcriptions below are written from the definitions (read in the upstream files;
no code copied):

* TruFor ``metrics.py`` (``TruFor_train_test/`` and ``test_docker/``) and MMFusion
  ``common/metrics.py`` ("taken from TruFor"): ``gt1 = minimum_filter(gt, 15)``
  (certain forged), ``gt0 = not maximum_filter(gt, 11)`` (certain pristine), scipy's
  default border mode; only pixels in ``gt0 | gt1`` count.
  ``computeF1(FP, TP, FN, TN) = 2TP / max(2TP + FN + FP, 1e-32)``; the inverse F1 is
  ``computeF1(TN, FN, TP, FP)``; each result is ``max(F1, F1_inverse)``.
  *Best threshold*: the map is cast to float32 and sorted ascending; at sorted position
  ``i`` the counts are ``TN = #gt0 up to i``, ``FN = #gt1 up to i``, ``FP = #gt0 - TN``,
  ``TP = #gt1 - FN`` (prediction ``> value_i``); only the last position of each run of
  equal values is kept; the score is the max over the kept positions; an exception
  (e.g. ``max`` of an empty array when no pixel counts) gives NaN.
  *Fixed threshold 0.5*: ``sklearn.metrics.confusion_matrix(gt, map > 0.5)`` on the
  counted pixels, read as ``TN = cm[0,0], FN = cm[1,0], FP = cm[0,1], TP = cm[1,1]``;
  TruFor calls it without ``labels`` (a single class gives a 1x1 matrix, the indexing
  raises, NaN), MMFusion with ``labels=[0, 1]``.
  Detection: ``roc_auc_score(labels, float32 scores)`` and
  ``balanced_accuracy_score(labels, scores > 0.5)``.
* DiffusionPrint ``TruFor/evaluate.py`` ``compute_metrics`` (same as TGIF's
  ``localization_metrics.computeMetrics``): ``pred = map > 0.5``; if prediction and
  mask are both empty every metric is 1 and AUC NaN; else from
  ``confusion_matrix(gt, pred, labels=[0, 1])``: ``F1 = 2TP / max(2TP + FN + FP, eps)``,
  ``precision = TP / max(TP + FP, eps)``, ``recall = TP / max(TP + FN, eps)``,
  ``IoU = TP / max(TP + FP + FN, eps)``, ``eps = 1e-32``, pixel AUC
  ``roc_auc_score(gt, map)`` (NaN with one class).
"""
import numpy as np
import pytest
from scipy.ndimage import maximum_filter, minimum_filter
from sklearn.metrics import balanced_accuracy_score, confusion_matrix, roc_auc_score

from dp_plugin.evaluation import ForgeryLocalizationMetric
from dp_plugin.evaluation import functional as F

TOL = 1e-9


# ------------------------------------------------------------------ transcriptions
def up_regions(gt):
    return np.logical_not(maximum_filter(gt, 11)), minimum_filter(gt, 15)


def up_f1(fp, tp, fn, tn):
    return 2 * tp / np.maximum(2 * tp + fn + fp, 1e-32)


def up_best(values, gt):
    try:
        gt0, gt1 = up_regions(gt)
        v = values.ravel().astype(np.float32)
        g0 = gt0.ravel().astype(np.float32)
        g1 = gt1.ravel().astype(np.float32)
        order = np.argsort(v)
        order = order[(g0[order] + g1[order]) > 0]
        th, g0, g1 = v[order], g0[order], g1[order]
        tn, fn = np.cumsum(g0), np.cumsum(g1)
        fp, tp = g0.sum() - tn, g1.sum() - fn
        last = np.append(th[1:] > th[:-1], True)
        fp, tp, fn, tn = fp[last], tp[last], fn[last], tn[last]
        return max(np.max(up_f1(fp, tp, fn, tn)), np.max(up_f1(tn, fn, tp, fp)))
    except Exception:
        return np.nan


def up_fixed(values, gt, labels=None):
    try:
        gt0, gt1 = up_regions(gt)
        counted = (gt0.astype(np.uint8) + gt1.astype(np.uint8)).ravel() > 0
        g = gt.ravel().astype(np.uint8)[counted]
        p = (values > 0.5).ravel().astype(np.uint8)[counted]
        cm = confusion_matrix(g, p, labels=labels)
        tn, fn, fp, tp = cm[0, 0], cm[1, 0], cm[0, 1], cm[1, 1]
        return max(up_f1(fp, tp, fn, tn), up_f1(tn, fn, tp, fp))
    except Exception:
        return np.nan


def dp_plain(values, gt):
    pred = (values > 0.5).ravel().astype(np.uint8)
    g = gt.ravel().astype(np.uint8)
    if pred.max() == 0 and g.max() == 0:
        return dict(f1=1.0, precision=1.0, recall=1.0, iou=1.0, auc=np.nan)
    tn, fp, fn, tp = confusion_matrix(g, pred, labels=[0, 1]).ravel()
    eps = 1e-32
    auc = roc_auc_score(g, values.ravel()) if len(set(g)) > 1 else np.nan
    return dict(f1=2 * tp / max(2 * tp + fn + fp, eps), precision=tp / max(tp + fp, eps),
                recall=tp / max(tp + fn, eps), iou=tp / max(tp + fp + fn, eps), auc=auc)


# ------------------------------------------------------------------ cases
def _rect(shape, y0, y1, x0, x1):
    gt = np.zeros(shape, bool)
    gt[y0:y1, x0:x1] = True
    return gt


def cases():
    rng = np.random.default_rng(0)
    square = _rect((64, 64), 16, 48, 16, 48)
    out = {}
    out['continuous'] = (rng.random((64, 64)).astype(np.float32) * 0.7 + 0.3 * square, square)
    out['quantised {0, .5, 1}'] = (rng.choice([0.0, 0.5, 1.0], (64, 64)).astype(np.float32),
                                   square)
    out['quantised, half at 0.5'] = (np.where(square, 0.5, 0.0).astype(np.float32), square)
    out['8-bit map'] = ((np.round(rng.random((64, 64)) * 255) / 255).astype(np.float32),
                        square)
    out['float64 map'] = (rng.random((48, 40)), _rect((48, 40), 5, 40, 3, 30))
    out['empty mask, clean map'] = (np.zeros((40, 40), np.float32), np.zeros((40, 40), bool))
    out['empty mask, false alarm'] = (np.where(_rect((40, 40), 3, 9, 3, 9), 0.9, 0.1)
                                      .astype(np.float32), np.zeros((40, 40), bool))
    tiny = _rect((40, 40), 10, 16, 10, 16)  # 6x6: nothing survives the 15x15 erosion
    out['tiny mask, hit'] = (tiny.astype(np.float32), tiny)
    out['tiny mask, clean map'] = (np.zeros((40, 40), np.float32), tiny)
    out['tiny mask, noisy map'] = (rng.random((40, 40)).astype(np.float32), tiny)
    thin = _rect((48, 48), 20, 23, 0, 48)  # a 3-px line
    out['thin line'] = ((0.6 * thin + 0.4 * rng.random((48, 48))).astype(np.float32), thin)
    out['1-px line'] = (rng.random((48, 48)).astype(np.float32), _rect((48, 48), 30, 31, 5, 40))
    full = np.ones((32, 32), bool)  # no certain-pristine pixel
    out['all forged, all predicted'] = (np.ones((32, 32), np.float32), full)
    out['all forged, none predicted'] = (np.zeros((32, 32), np.float32), full)
    out['all forged, noisy'] = (rng.random((32, 32)).astype(np.float32), full)
    small = _rect((8, 8), 2, 6, 2, 6)  # every pixel inside the band: nothing is scored
    out['image smaller than the band'] = (rng.random((8, 8)).astype(np.float32), small)
    out['constant map'] = (np.full((64, 64), 0.5, np.float32), square)
    out['ties across classes'] = (np.where(_rect((64, 64), 0, 40, 0, 64), 0.75, 0.25)
                                  .astype(np.float32), square)
    return out


CASES = cases()


def same(a, b):
    return (np.isnan(a) and np.isnan(b)) or abs(a - b) <= TOL


@pytest.mark.parametrize('name', list(CASES))
def test_trufor_and_mmfusion_f1_equal_the_upstream_formulas(name):
    prob, gt = CASES[name]
    mask = gt.astype(np.uint8)
    best = F.trufor_f1(prob, mask, None)
    assert same(best, up_best(prob, gt)), (best, up_best(prob, gt))
    assert same(F.trufor_f1(prob, mask, None, protocol='mmfusion'), up_best(prob, gt))
    fixed = F.trufor_f1(prob, mask, 0.5)
    assert same(fixed, up_fixed(prob, gt)), (fixed, up_fixed(prob, gt))
    fixed_mm = F.trufor_f1(prob, mask, 0.5, protocol='mmfusion')
    assert same(fixed_mm, up_fixed(prob, gt, labels=[0, 1])), (fixed_mm,
                                                              up_fixed(prob, gt, [0, 1]))


@pytest.mark.parametrize('name', list(CASES))
def test_plain_metrics_equal_diffusionprint_evaluate(name):
    prob, gt = CASES[name]
    ours = F.pixel_metrics(prob, gt.astype(np.uint8))
    theirs = dp_plain(prob, gt)
    for key, value in theirs.items():
        assert same(ours[key], float(value)), (key, ours[key], value)


def test_fixed_threshold_inverts_the_prediction_not_the_map():
    """Pixels exactly at 0.5 are pristine in the prediction and forged in its inverse.

    Forged square 32x32 in 64x64 at 0.5, rest 0: ``map > 0.5`` is empty (F1 0); the
    inverted prediction marks every scored pixel forged: TP = 18x18 eroded = 324, FP =
    4096 - 42x42 dilated = 2332, so F1 = 648 / 2980. ``(1 - map) > 0.5`` would give 0.
    """
    prob, gt = CASES['quantised, half at 0.5']
    assert F.trufor_f1(prob, gt.astype(np.uint8), 0.5) == pytest.approx(648 / 2980, abs=TOL)


def test_empty_eroded_mask_scores_zero_at_the_best_threshold_and_counts_in_the_mean():
    """A forgery too small for the 15x15 erosion scores 0 in TruFor's best-threshold F1
    (upstream), so it lowers the mean; at 0.5 TruFor gives NaN when nothing is predicted
    among the scored pixels, 0 otherwise, and MMFusion 0 in both cases."""
    prob, gt = CASES['tiny mask, hit']
    mask = gt.astype(np.uint8)
    assert F.trufor_f1(prob, mask, None) == 0.0
    assert np.isnan(F.trufor_f1(prob, mask, 0.5))
    assert F.trufor_f1(prob, mask, 0.5, protocol='mmfusion') == 0.0
    noisy, _ = CASES['tiny mask, noisy map']
    assert F.trufor_f1(noisy, mask, 0.5) == 0.0

    metric = ForgeryLocalizationMetric()
    good, good_gt = CASES['quantised, half at 0.5']
    rows = [F.image_metrics(p, g.astype(np.uint8), 1) for p, g in
            ((np.where(good_gt, 0.9, 0.1), good_gt), (prob, gt))]
    res = metric.compute_metrics([dict(r, label=1, generator='g', mask_type='m') for r in rows])
    assert res['f1_trufor_best'] == pytest.approx(50.0)


def test_detection_metrics_equal_trufor_compute_detection_metrics():
    rng = np.random.default_rng(3)
    scores = rng.random(40).round(2)  # ties
    labels = rng.integers(0, 2, 40)
    ours = F.detection_metrics(scores, labels)
    s32 = np.asarray(scores, np.float32)
    assert abs(ours['auc'] - roc_auc_score(labels, s32)) <= TOL
    assert abs(ours['bacc'] - balanced_accuracy_score(labels, s32 > 0.5)) <= TOL
