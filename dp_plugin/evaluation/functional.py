"""Per-image forgery localization and detection metrics: the one implementation.

``ForgeryLocalizationMetric`` (hence ``tools/test.py``), ``ForgeryHeatmapHook`` and
``dp-localize --masks`` all score an image with :func:`image_metrics`. Each number
follows the code of the protocol it is named after (docs/localization.md):

* ``f1``, ``iou``, ``precision``, ``recall``, ``auc`` at ``threshold`` — the plain
  per-image pixel metrics of DiffusionPrint's ``evaluate.py`` and TGIF's
  ``localization_metrics.py``: ``prob > threshold`` against the mask, no boundary band,
  no polarity flip, ratios ``x / max(d, 1e-32)`` (so 0, not NaN, when a denominator is
  0) except that an empty mask *and* an empty prediction give 1 everywhere (AUC NaN);
  pixel ROC-AUC by sklearn, NaN when the mask holds one class.
* ``f1_best`` — the best plain F1 over all thresholds ``prob > t`` (an oracle), with the
  same conventions (so ``f1_best >= f1``).
* ``f1_trufor`` / ``f1_trufor_best`` — TruFor's ``computeLocalizationMetrics`` (MMFusion
  uses the same code): only certain-forged ``minimum_filter(gt, 15)`` and
  certain-pristine ``not maximum_filter(gt, 11)`` pixels count,
  ``F1 = 2TP / max(2TP + FN + FP, 1e-32)``, and the score is ``max(F1, F1_inv)`` where
  ``F1_inv`` is the same formula on the swapped entries ``(TN, FN, TP, FP)`` (the
  binary prediction inverted). ``f1_trufor_best`` scans the thresholds ``> v`` over
  the distinct float32 scores; ``f1_trufor`` is at the fixed threshold (0.5 upstream).
  An image whose certain-forged region is empty scores 0 in the best-threshold F1; at
  the fixed threshold TruFor's ``confusion_matrix`` without ``labels`` fails (NaN) when
  the scored pixels hold one class in both mask and prediction, MMFusion's
  (``labels=[0, 1]``) gives 0 there (``protocol='mmfusion'``). No scored pixel: NaN.

``prob`` is the forgery probability ``(H, W)`` (higher = forged); ``gt`` an integer
mask, 1 = forged, 0 = pristine, ``ignore_index`` (255) = unknown. Ignored pixels are
never scored (an extension: upstream masks have none); for the TruFor band they count
as pristine. Aggregate per-image values with ``np.nanmean``.
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from scipy import ndimage
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

NAN = float('nan')
EPS = 1e-32  #: denominator floor of TruFor's, MMFusion's, TGIF's and DiffusionPrint's code
PROTOCOLS = ('trufor', 'mmfusion')


def _ratio(num, den):
    """``num / max(den, 1e-32)`` in float64 (the upstream codes' safe division)."""
    return np.asarray(num, np.float64) / np.maximum(np.asarray(den, np.float64), EPS)


def _valid(prob, gt, ignore_index: int = 255) -> Tuple[np.ndarray, np.ndarray]:
    prob, gt = np.asarray(prob), np.asarray(gt)
    if prob.shape != gt.shape:
        raise ValueError(f'prediction {prob.shape} and ground truth {gt.shape} differ in shape')
    keep = gt != ignore_index
    return prob[keep], gt[keep] > 0


def confusion(pred: np.ndarray, gt: np.ndarray) -> Tuple[int, int, int, int]:
    """``(tp, fp, fn, tn)`` of boolean arrays."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    tp = int(np.count_nonzero(pred & gt))
    fp = int(np.count_nonzero(pred & ~gt))
    fn = int(np.count_nonzero(~pred & gt))
    return tp, fp, fn, int(pred.size) - tp - fp - fn


def f1_score(tp, fp, fn):
    """``2TP / max(2TP + FN + FP, 1e-32)`` (element-wise)."""
    return _ratio(2 * np.asarray(tp), 2 * np.asarray(tp) + np.asarray(fn) + np.asarray(fp))


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """sklearn's ROC-AUC; NaN unless both classes are present."""
    labels = np.asarray(labels, bool).ravel()
    if labels.all() or not labels.any():
        return NAN
    return float(roc_auc_score(labels, np.asarray(scores).ravel()))


# ------------------------------------------------------------- plain (DiffusionPrint / TGIF)
def pixel_metrics(prob, gt, threshold: float = 0.5, ignore_index: int = 255
                  ) -> Dict[str, float]:
    """Plain per-image ``f1, precision, recall, iou, auc`` of ``prob > threshold``.

    Empty mask and empty prediction: all 1 and AUC NaN. No scored pixel: all NaN.
    """
    p, g = _valid(prob, gt, ignore_index)
    if p.size == 0:
        return dict(f1=NAN, precision=NAN, recall=NAN, iou=NAN, auc=NAN)
    pred = p > threshold
    if not pred.any() and not g.any():
        return dict(f1=1.0, precision=1.0, recall=1.0, iou=1.0, auc=NAN)
    tp, fp, fn, _ = confusion(pred, g)
    return dict(f1=float(f1_score(tp, fp, fn)), precision=float(_ratio(tp, tp + fp)),
                recall=float(_ratio(tp, tp + fn)), iou=float(_ratio(tp, tp + fp + fn)),
                auc=roc_auc(p, g))


def _threshold_counts(scores: np.ndarray, labels: np.ndarray
                      ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(tp, fp, fn, tn)`` of ``scores > v`` for every distinct score ``v`` (ascending)."""
    values, inverse = np.unique(scores, return_inverse=True)
    pos = np.bincount(inverse.ravel(), weights=labels, minlength=values.size)
    neg = np.bincount(inverse.ravel(), weights=~labels, minlength=values.size)
    fn, tn = np.cumsum(pos), np.cumsum(neg)  # scores <= v are predicted pristine
    return pos.sum() - fn, neg.sum() - tn, fn, tn


def f1_best(prob, gt, ignore_index: int = 255) -> float:
    """Best plain F1 over every threshold ``prob > t`` (all forged included), as
    :func:`pixel_metrics` scores it (empty mask and empty prediction: 1)."""
    p, g = _valid(prob, gt, ignore_index)
    if p.size == 0:
        return NAN
    if not g.any():
        return 1.0  # the threshold above the maximum predicts nothing
    tp, fp, fn, _ = _threshold_counts(p.astype(np.float64), g)
    all_forged = f1_score(int(g.sum()), int(g.size - g.sum()), 0)
    return float(max(f1_score(tp, fp, fn).max(), all_forged))


# ------------------------------------------------------------- TruFor / MMFusion
def trufor_band_masks(gt: np.ndarray, erode: int = 15, dilate: int = 11
                      ) -> Tuple[np.ndarray, np.ndarray]:
    """TruFor's ``(certain forged, certain pristine)`` regions of a binary mask:
    ``minimum_filter(gt, erode)`` and ``not maximum_filter(gt, dilate)``."""
    g = np.asarray(gt, bool)
    return ndimage.minimum_filter(g, size=erode), ~ndimage.maximum_filter(g, size=dilate)


def _band_scored(prob, gt, erode: int, dilate: int, ignore_index: int
                 ) -> Tuple[np.ndarray, np.ndarray]:
    prob, gt = np.asarray(prob), np.asarray(gt)
    if prob.shape != gt.shape:
        raise ValueError(f'prediction {prob.shape} and ground truth {gt.shape} differ in shape')
    valid = gt != ignore_index
    pos, neg = trufor_band_masks((gt > 0) & valid, erode, dilate)
    keep = (pos | neg) & valid
    return prob[keep], pos[keep]


def trufor_f1(prob, gt, threshold: Optional[float] = 0.5, erode: int = 15, dilate: int = 11,
              ignore_index: int = 255, protocol: str = 'trufor') -> float:
    """TruFor's per-image F1 (see the module docstring); ``threshold=None``: best threshold."""
    if protocol not in PROTOCOLS:
        raise ValueError(f'protocol must be one of {PROTOCOLS}, got {protocol!r}')
    scores, labels = _band_scored(prob, gt, erode, dilate, ignore_index)
    if scores.size == 0:
        return NAN  # upstream: max() of an empty array raises, caught as NaN
    if threshold is None:
        tp, fp, fn, tn = _threshold_counts(scores.astype(np.float32), labels)
        return float(max(f1_score(tp, fp, fn).max(), f1_score(fn, tn, tp).max()))
    pred = scores > threshold
    if protocol == 'trufor' and np.unique(np.r_[pred, labels]).size < 2:
        return NAN  # a 1x1 confusion matrix: upstream's cm[1, 1] raises, caught as NaN
    tp, fp, fn, tn = confusion(pred, labels)
    return float(max(f1_score(tp, fp, fn), f1_score(fn, tn, tp)))


# ------------------------------------------------------------- per image and detection
def authentic_stats(prob, gt=None, threshold: float = 0.5, ignore_index: int = 255
                    ) -> Dict[str, float]:
    """False positives on an authentic image.

    ``fp_area``: fraction of (non-ignored) pixels predicted forged;
    ``flagged``: 1.0 if any pixel is predicted forged, else 0.0.
    """
    prob = np.asarray(prob, dtype=np.float64)
    if gt is not None:
        prob = prob[np.asarray(gt) != ignore_index]
    if prob.size == 0:
        return dict(fp_area=NAN, flagged=NAN)
    pred = prob > threshold
    return dict(fp_area=float(pred.mean()), flagged=float(pred.any()))


def localization_metrics(prob, gt, threshold: float = 0.5, ignore_index: int = 255,
                         band: Tuple[int, int] = (15, 11), protocol: str = 'trufor'
                         ) -> Dict[str, float]:
    """Every per-image localization metric of a *forged* image, as a dict."""
    out = pixel_metrics(prob, gt, threshold, ignore_index)
    out.update(f1_best=f1_best(prob, gt, ignore_index),
               f1_trufor=trufor_f1(prob, gt, threshold, *band, ignore_index, protocol),
               f1_trufor_best=trufor_f1(prob, gt, None, *band, ignore_index, protocol))
    return out


def image_metrics(prob, gt, label: Optional[int] = None, threshold: float = 0.5,
                  ignore_index: int = 255, band: Tuple[int, int] = (15, 11),
                  protocol: str = 'trufor') -> Dict[str, float]:
    """Per-image scores as the metric records them: ``label`` 1 (forged; default: the mask
    has a forged pixel) gives :func:`localization_metrics`, 0 :func:`authentic_stats`."""
    gt = np.asarray(gt)
    if label is None:
        label = int(bool(((gt != ignore_index) & (gt > 0)).any()))
    if label:
        return localization_metrics(prob, gt, threshold, ignore_index, band, protocol)
    return authentic_stats(prob, gt, threshold, ignore_index)


def balanced_accuracy(scores: Sequence[float], labels: Sequence[int], threshold: float = 0.5
                      ) -> float:
    """sklearn's balanced accuracy of ``score > threshold`` (TruFor's and MMFusion's bACC);
    with one class present, that class's rate."""
    labels = np.asarray(labels).astype(bool).ravel()
    if labels.size == 0:
        return NAN
    pred = np.asarray(scores, np.float32).ravel() > threshold
    if labels.all() or not labels.any():  # sklearn warns, then keeps the present class
        return float((pred == labels).mean())
    return float(balanced_accuracy_score(labels, pred))


def detection_metrics(scores: Sequence[float], labels: Sequence[int]) -> Dict[str, float]:
    """Image-level ``auc`` and ``bacc`` (at 0.5) as TruFor's ``computeDetectionMetrics``:
    scores as float32, sklearn's ROC-AUC (NaN with one class) and balanced accuracy."""
    scores = np.asarray(scores, np.float32).ravel()
    return dict(auc=roc_auc(scores, labels), bacc=balanced_accuracy(scores, labels, 0.5))
