"""Grouped forgery localization metric (generator x mask type)."""
import json
from collections import OrderedDict, defaultdict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from prettytable import PrettyTable

from dp_plugin.registry import METRICS
from dp_plugin.utils import atomic_write
from . import functional as F

LOC_KEYS = ('f1', 'f1_best', 'f1_trufor', 'f1_trufor_best', 'auc', 'iou')
LOC_HEADERS = ('F1@0.5', 'F1-best', 'F1 TruFor', 'F1-best TruFor', 'AUC', 'IoU')


def _to_numpy(x) -> np.ndarray:
    if isinstance(x, dict):
        x = x['data']
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


def probability_map(sample: dict) -> np.ndarray:
    """Forgery probability ``(H, W)`` of a predicted data sample (dict form).

    ``seg_logits`` with 2 channels -> softmax of channel 1; with 1 channel the values
    are taken as probabilities (mmseg's ``postprocess_result`` has already applied the
    sigmoid); without logits, the binary ``pred_sem_seg``.
    """
    if 'seg_logits' in sample:
        logits = torch.as_tensor(_to_numpy(sample['seg_logits']))
        if logits.dim() == 2:
            logits = logits[None]
        if logits.size(0) == 1:
            return logits[0].clamp(0, 1).numpy()
        if logits.size(0) == 2:
            return torch.softmax(logits, dim=0)[1].numpy()
        raise ValueError(f'expected 1 or 2 logit channels, got {logits.size(0)}')
    if 'pred_sem_seg' in sample:
        return (_to_numpy(sample['pred_sem_seg']).squeeze() > 0).astype(np.float64)
    raise KeyError('prediction has neither seg_logits nor pred_sem_seg')


def detection_score(sample: dict) -> Optional[float]:
    """Image-level forgery probability ``pred_score`` if the model set one."""
    score = sample.get('pred_score')
    if score is None:
        return None
    return float(_to_numpy(score).reshape(-1)[0])


def _nanmean(values: Sequence[float]) -> float:
    arr = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(arr)) if arr.size and not np.isnan(arr).all() else F.NAN


def _fmt(value: float) -> str:
    return '-' if value is None or np.isnan(value) else f'{100 * value:.2f}'


def format_scores(row: Dict[str, float]) -> str:
    """One image's scores as the metric's table prints them, e.g. ``F1@0.5 53.00 | ...``;
    an authentic image: its forged-area fraction."""
    if 'f1' in row:
        return ' | '.join(f'{h} {_fmt(row[k])}' for k, h in zip(LOC_KEYS, LOC_HEADERS))
    return f'authentic: forged area {_fmt(row["fp_area"])}%'


@METRICS.register_module()
class ForgeryLocalizationMetric(BaseMetric):
    """Per-image localization metrics averaged per generator x mask type.

    Every number comes from :func:`functional.image_metrics` (the implementation
    ``dp-localize --masks`` and ``ForgeryHeatmapHook`` use too). Forged images
    (``label`` 1) give the plain F1 at ``threshold`` (DiffusionPrint's / TGIF's), the
    plain F1-best (per-image oracle threshold), TruFor's F1 at ``threshold`` and at its
    best threshold (15/11 boundary band, max with the inverted prediction), pixel AUC and
    IoU; each is averaged over images with ``nanmean``. Authentic images (``label`` 0)
    are not mixed into F1: they give
    ``auth_fp_area`` (mean fraction of pixels predicted forged) and ``auth_flagged``
    (fraction of authentic images with any pixel predicted forged). If the model puts
    an image score ``pred_score`` in its samples, ``det_auc`` and ``det_bacc`` (at 0.5)
    are added (TruFor's ``computeDetectionMetrics``). Values are reported in percent.

    Returned keys: ``f1, f1_best, f1_trufor, f1_trufor_best, auc, iou`` (all forged images),
    ``auth_fp_area, auth_flagged``, optional ``det_auc, det_bacc``, and
    ``{generator}/{mask_type}/{key}`` per group.

    Args:
        threshold (float): Decision threshold on the probability. Defaults to 0.5.
        band (tuple[int, int]): TruFor erosion / dilation sizes. Defaults to (15, 11).
        ignore_index (int): Unscored GT value. Defaults to 255.
        protocol (str): ``'trufor'`` or ``'mmfusion'``: whose fixed-threshold F1 when the
            scored pixels hold one class (TruFor: NaN, MMFusion: 0). Defaults to 'trufor'.
        out_file (str, optional): Write the per-image results as JSON there.
    """

    default_prefix: Optional[str] = None

    def __init__(self, threshold: float = 0.5, band: Tuple[int, int] = (15, 11),
                 ignore_index: int = 255, protocol: str = 'trufor',
                 out_file: Optional[str] = None,
                 collect_device: str = 'cpu', prefix: Optional[str] = None, **kwargs) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, **kwargs)
        self.threshold = threshold
        self.band = tuple(band)
        self.ignore_index = ignore_index
        if protocol not in F.PROTOCOLS:
            raise ValueError(f'protocol must be one of {F.PROTOCOLS}, got {protocol!r}')
        self.protocol = protocol
        self.out_file = out_file

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            prob = probability_map(sample)
            gt = _to_numpy(sample['gt_sem_seg']).squeeze().astype(np.int64)
            if prob.shape != gt.shape:
                raise ValueError(f'{sample.get("img_path")}: prediction {prob.shape} vs '
                                 f'ground truth {gt.shape}')
            label = int(sample.get('label', int((gt[gt != self.ignore_index] > 0).any())))
            row = dict(img_path=sample.get('img_path'),
                       generator=sample.get('generator', 'unknown'),
                       mask_type=sample.get('mask_type', 'unknown'), label=label)
            row.update(F.image_metrics(prob, gt, label, self.threshold, self.ignore_index,
                                       self.band, self.protocol))
            score = detection_score(sample)
            if score is not None:
                row['score'] = score
            self.results.append(row)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        logger = MMLogger.get_current_instance()
        forged = [r for r in results if r['label'] == 1]
        authentic = [r for r in results if r['label'] == 0]
        metrics: Dict[str, float] = OrderedDict()

        groups = defaultdict(list)
        for r in forged:
            groups[(r['generator'], r['mask_type'])].append(r)
        for mask_type in sorted({r['mask_type'] for r in forged}):
            groups[('all', mask_type)] = [r for r in forged if r['mask_type'] == mask_type]
        table = PrettyTable(['generator', 'mask', 'n'] + list(LOC_HEADERS))
        order = sorted(k for k in groups if k[0] != 'all') + sorted(k for k in groups if k[0] == 'all')
        for key in order + [('all', 'all')]:
            rows = forged if key == ('all', 'all') else groups[key]
            means = {k: _nanmean([r[k] for r in rows]) for k in LOC_KEYS}
            table.add_row([key[0], key[1], len(rows)] + [_fmt(means[k]) for k in LOC_KEYS])
            for k in LOC_KEYS:
                name = k if key == ('all', 'all') else f'{key[0]}/{key[1]}/{k}'
                metrics[name] = round(100 * means[k], 2) if not np.isnan(means[k]) else F.NAN
        print_log('Forgery localization (forged images only, per-image mean, %):\n'
                  + table.get_string(), logger=logger)

        fp_area = _nanmean([r['fp_area'] for r in authentic])
        flagged = _nanmean([r['flagged'] for r in authentic])
        metrics['auth_fp_area'] = round(100 * fp_area, 2) if authentic else F.NAN
        metrics['auth_flagged'] = round(100 * flagged, 2) if authentic else F.NAN
        print_log(f'Authentic images: n={len(authentic)}, forged-area fraction '
                  f'{_fmt(fp_area)}%, images with any forged pixel {_fmt(flagged)}%',
                  logger=logger)

        scored = [r for r in results if 'score' in r]
        if scored:
            scores = [r['score'] for r in scored]
            labels = [r['label'] for r in scored]
            det = F.detection_metrics(scores, labels)
            det_auc, det_bacc = det['auc'], det['bacc']
            metrics['det_auc'] = round(100 * det_auc, 2) if not np.isnan(det_auc) else F.NAN
            metrics['det_bacc'] = round(100 * det_bacc, 2)
            print_log(f'Detection (n={len(scored)}): AUC {_fmt(det_auc)}%, '
                      f'balanced accuracy@0.5 {_fmt(det_bacc)}%', logger=logger)

        if self.out_file:
            self.dump(results, self.out_file)
            print_log(f'per-image results written to {self.out_file}', logger=logger)
        return metrics

    @staticmethod
    def dump(results: List[dict], out_file: str) -> None:
        """Write per-image rows as JSON atomically (NaN -> null)."""
        def clean(v):
            if isinstance(v, float) and np.isnan(v):
                return None
            return v
        rows = [{k: clean(v) for k, v in r.items()} for r in results]
        with atomic_write(out_file, 'w') as f:
            json.dump(rows, f, indent=1)
