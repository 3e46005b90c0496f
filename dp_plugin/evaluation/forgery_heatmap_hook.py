"""Write forgery heat-map overlays during testing."""
import os
import os.path as osp
from typing import Optional, Sequence

import cv2
import numpy as np
from mmengine.hooks import Hook
from mmengine.logging import print_log

from dp_plugin.registry import HOOKS
from dp_plugin.utils import atomic_write_bytes
from .forgery_metric import format_scores, probability_map
from .functional import image_metrics


def heatmap_overlay(image_bgr: np.ndarray, prob: np.ndarray,
                    gt: Optional[np.ndarray] = None, alpha: float = 0.5,
                    caption: Optional[str] = None) -> np.ndarray:
    """``[image | ground truth | probability overlay]`` as one BGR uint8 picture.

    The probability (0 blue .. 1 red, OpenCV's JET map) is blended over the image;
    the ground-truth panel shows forged pixels white and ignored ones grey. A
    ``caption`` is written in a white strip above the panels.
    """
    h, w = prob.shape
    if image_bgr.shape[:2] != (h, w):
        image_bgr = cv2.resize(image_bgr, (w, h), interpolation=cv2.INTER_LINEAR)
    heat = cv2.applyColorMap(np.clip(prob * 255.0, 0, 255).astype(np.uint8), cv2.COLORMAP_JET)
    overlay = cv2.addWeighted(image_bgr, 1.0 - alpha, heat, alpha, 0.0)
    panels = [image_bgr]
    if gt is not None:
        g = np.where(gt == 255, 128, np.where(gt > 0, 255, 0)).astype(np.uint8)
        panels.append(cv2.cvtColor(g, cv2.COLOR_GRAY2BGR))
    panels.append(overlay)
    picture = np.concatenate(panels, axis=1)
    if caption:
        picture = np.concatenate([_caption_strip(caption, picture.shape[1]), picture], axis=0)
    return picture


def _caption_strip(caption: str, width: int) -> np.ndarray:
    """White strip with ``caption`` in black; one ``' | '``-separated item per line when
    the whole caption does not fit in ``width``."""
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, float(np.clip(width / 1000.0, 0.3, 0.8))
    lines = [caption]
    if cv2.getTextSize(caption, font, scale, 1)[0][0] + 8 > width:
        lines = caption.split(' | ')
    height = cv2.getTextSize('Ag', font, scale, 1)[0][1] + 6
    strip = np.full((height * len(lines) + 4, width, 3), 255, np.uint8)
    for i, line in enumerate(lines):
        cv2.putText(strip, line, (4, height * (i + 1)), font, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return strip


@HOOKS.register_module()
class ForgeryHeatmapHook(Hook):
    """Save ``[image | GT | heat map]`` PNGs of test predictions into ``out_dir``.

    File names are ``{generator}_{image file stem}.png``. When the sample has a ground
    truth, the picture is captioned with the image's scores, computed and formatted as
    ``ForgeryLocalizationMetric`` records them (same implementation, same threshold).
    A file is written to a temporary name and renamed, so an interrupted run leaves no
    half-written PNG.

    Args:
        out_dir (str): Output folder (created).
        interval (int): Save every ``interval``-th test batch. Defaults to 1.
        threshold (float): Decision threshold of the scores. Defaults to 0.5.
    """

    priority = 'LOW'

    def __init__(self, out_dir: str, interval: int = 1, threshold: float = 0.5) -> None:
        self.out_dir = out_dir
        self.interval = max(1, int(interval))
        self.threshold = threshold

    def caption(self, prob: np.ndarray, gt: Optional[np.ndarray],
                label: Optional[int] = None) -> Optional[str]:
        """The scores of one map as the metric's table prints them (None without GT)."""
        if gt is None:
            return None
        return format_scores(image_metrics(prob, gt, label, self.threshold))

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        if batch_idx % self.interval or not outputs:
            return
        os.makedirs(self.out_dir, exist_ok=True)
        for sample in outputs:
            meta = sample.metainfo
            path = meta.get('img_path')
            image = cv2.imread(path, cv2.IMREAD_COLOR) if path else None
            if image is None:
                print_log(f'ForgeryHeatmapHook: cannot read {path}; skipped', logger='current')
                continue
            prob = probability_map(sample.to_dict())
            gt = sample.gt_sem_seg.data.squeeze().cpu().numpy() if 'gt_sem_seg' in sample else None
            stem = osp.splitext(osp.basename(path))[0]
            target = osp.join(self.out_dir, f'{meta.get("generator", "image")}_{stem}.png')
            caption = self.caption(prob, gt, meta.get('label'))
            ok, png = cv2.imencode('.png', heatmap_overlay(image, prob, gt, caption=caption))
            if not ok:
                print_log(f'ForgeryHeatmapHook: cannot encode {target}', logger='current')
                continue
            atomic_write_bytes(target, png.tobytes())
