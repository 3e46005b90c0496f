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
from dp_plugin.utils.forgery_figure import forgery_figure
from .forgery_metric import format_scores, probability_map
from .functional import image_metrics


@HOOKS.register_module()
class ForgeryHeatmapHook(Hook):
    """Save ``image | GT | map | overlay`` figures of test predictions into ``out_dir``.

    The figure is :func:`dp_plugin.utils.forgery_figure.forgery_figure`, the one dp-localize
    writes (``RdBu_r`` on [0, 1] with a colour bar; ignored ground-truth pixels grey).

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
            png = forgery_figure(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), prob, self.threshold,
                                 title=osp.basename(path), caption=caption, gt=gt,
                                 ignore_index=255)
            atomic_write_bytes(target, png)
