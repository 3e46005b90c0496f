"""Per-image forgery localization and detection metrics (plain NumPy / SciPy).

Conventions (see docs/localization.md, "Metrics: which F1 is which"):

* ``prob``: forgery probability map, float ``(H, W)`` in [0, 1], higher = forged.
* ``gt``: integer map, 1 = forged, 0 = pristine, ``ignore_index`` (255) = unknown;
  ignored pixels are dropped before anything else.
* All functions return ``float('nan')`` when the value is undefined (e.g. AUC of a
  mask with one class); aggregate with ``np.nanmean``.
"""
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from scipy import ndimage
from scipy.stats import rankdata

NAN = float('nan')


def _valid(prob: np.ndarray, gt: np.ndarray, ignore_index: int = 255
           ) -> Tuple[np.ndarray, np.ndarray]:
    prob = np.asarray(prob, dtype=np.float64)
    gt = np.asarray(gt)
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


def f1_from_counts(tp: int, fp: int, fn: int, empty: float = 1.0) -> float:
    """``2TP / (2TP + FP + FN)``; ``empty`` when ``TP = FP = FN = 0`` (TGIF: 1)."""
    denom = 2 * tp + fp + fn
    return empty if denom == 0 else 2.0 * tp / denom


def f1_at(prob, gt, threshold: float = 0.5, ignore_index: int = 255) -> float:
    """Plain per-image F1 of ``prob > threshold`` (the paper's "F1 at 0.5").

    No boundary band, no polarity flip. Empty GT and empty prediction -> 1 (TGIF's
    ``localization_metrics.py``); empty GT with any positive -> 0.
    """
    p, g = _valid(prob, gt, ignore_index)
    tp, fp, fn, _ = confusion(p > threshold, g)
    return f1_from_counts(tp, fp, fn)


def iou_at(prob, gt, threshold: float = 0.5, ignore_index: int = 255) -> float:
    """IoU of the forged class at ``threshold``; 1 when both are empty."""
    p, g = _valid(prob, gt, ignore_index)
    tp, fp, fn, _ = confusion(p > threshold, g)
    denom = tp + fp + fn
    return 1.0 if denom == 0 else tp / denom


def precision_recall_at(prob, gt, threshold: float = 0.5, ignore_index: int = 255
                        ) -> Tuple[float, float]:
    """``(precision, recall)`` at ``threshold`` (NaN when undefined)."""
    p, g = _valid(prob, gt, ignore_index)
    tp, fp, fn, _ = confusion(p > threshold, g)
    return (tp / (tp + fp) if tp + fp else NAN, tp / (tp + fn) if tp + fn else NAN)


def best_f1(scores: np.ndarray, gt: np.ndarray) -> float:
    """Maximum F1 over all thresholds of ``scores`` (oracle threshold), NaN if no positive.

    Exact: every distinct score is tried as "``>= s`` is forged", plus "nothing forged".
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    gt = np.asarray(gt, bool).ravel()
    n_pos = int(gt.sum())
    if n_pos == 0:
        return NAN
    order = np.argsort(-scores, kind='stable')
    s, g = scores[order], gt[order]
    tp = np.cumsum(g)
    fp = np.cumsum(~g)
    last = np.r_[s[1:] != s[:-1], True]  # end of each block of equal scores
    tp, fp = tp[last], fp[last]
    f1 = 2.0 * tp / (2.0 * tp + fp + (n_pos - tp))
    return float(f1.max())


def f1_best(prob, gt, ignore_index: int = 255) -> float:
    """Plain per-image F1 at the best threshold of that image (an oracle upper bound)."""
    p, g = _valid(prob, gt, ignore_index)
    return best_f1(p, g)


def pixel_auc(prob, gt, ignore_index: int = 255) -> float:
    """Per-image pixel ROC-AUC (ties counted half); NaN when the GT has a single class."""
    p, g = _valid(prob, gt, ignore_index)
    return roc_auc(p, g)


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """ROC-AUC via the Mann-Whitney U statistic; NaN unless both classes are present."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = np.asarray(labels, bool).ravel()
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return NAN
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def trufor_band_masks(gt: np.ndarray, erode: int = 15, dilate: int = 11
                      ) -> Tuple[np.ndarray, np.ndarray]:
    """TruFor's certain-forged / certain-pristine regions of a binary GT.

    Certain-forged = ``minimum_filter(gt, erode)``, certain-pristine =
    ``not maximum_filter(gt, dilate)``; the band in between is not scored.
    """
    g = np.asarray(gt, bool)
    pos = ndimage.minimum_filter(g, size=erode, mode='nearest')
    neg = ~ndimage.maximum_filter(g, size=dilate, mode='nearest')
    return pos, neg


def trufor_f1(prob, gt, threshold: Optional[float] = 0.5, erode: int = 15, dilate: int = 11,
              ignore_index: int = 255) -> float:
    """TruFor-style per-image F1: boundary band excluded, ``max(F1(map), F1(1 - map))``.

    ``threshold=None`` gives TruFor's "F1 best" (oracle threshold). NaN when no
    certain-forged pixel remains (e.g. authentic images, tiny masks); TruFor and
    MMFusion average with ``nanmean`` over manipulated images only.
    """
    prob = np.asarray(prob, dtype=np.float64)
    gt = np.asarray(gt)
    if prob.shape != gt.shape:
        raise ValueError(f'prediction {prob.shape} and ground truth {gt.shape} differ in shape')
    valid = gt != ignore_index
    forged = (gt > 0) & valid
    pos, neg = trufor_band_masks(forged, erode, dilate)
    keep = (pos | neg) & valid  # ignored pixels are never scored
    labels = pos[keep]
    if not labels.any():
        return NAN
    scores = prob[keep]
    if threshold is None:
        return max(best_f1(scores, labels), best_f1(-scores, labels))
    f_direct = f1_from_counts(*confusion(scores > threshold, labels)[:3])
    f_inverse = f1_from_counts(*confusion((1.0 - scores) > threshold, labels)[:3])
    return max(f_direct, f_inverse)


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


def balanced_accuracy(scores: Sequence[float], labels: Sequence[int], threshold: float = 0.5
                      ) -> float:
    """Mean of true-positive and true-negative rates of ``score > threshold``."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, bool)
    pred = scores > threshold
    rates = []
    if labels.any():
        rates.append(float(pred[labels].mean()))
    if (~labels).any():
        rates.append(float((~pred[~labels]).mean()))
    return float(np.mean(rates)) if rates else NAN


def localization_metrics(prob, gt, threshold: float = 0.5, ignore_index: int = 255,
                         band: Tuple[int, int] = (15, 11)) -> Dict[str, float]:
    """All per-image localization metrics of a *forged* image, as a dict."""
    precision, recall = precision_recall_at(prob, gt, threshold, ignore_index)
    return dict(
        f1=f1_at(prob, gt, threshold, ignore_index),
        f1_trufor=trufor_f1(prob, gt, threshold, *band, ignore_index=ignore_index),
        f1_best=f1_best(prob, gt, ignore_index),
        auc=pixel_auc(prob, gt, ignore_index),
        iou=iou_at(prob, gt, threshold, ignore_index),
        precision=precision,
        recall=recall,
    )
