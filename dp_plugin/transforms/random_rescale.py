"""Rescale the image (and its masks) by a random factor."""
from typing import Tuple

import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from dp_plugin.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomRescale(BaseTransform):
    """Resize by a factor drawn uniformly from ``ratio_range`` (aspect ratio kept).

    Unlike mmcv's ``RandomResize`` (which scales a *target* scale), the factor applies
    to the image's own size, as in the paper's "random resizing in [0.5, 1.5]".
    Masks in ``seg_fields`` use nearest interpolation. Randomness comes from NumPy's
    global generator, which MMEngine seeds (``randomness=dict(seed=...)``).

    Args:
        ratio_range (tuple[float, float]): Factor range. Defaults to (0.5, 1.5).
        prob (float): Probability of rescaling. Defaults to 1.0.
        interpolation (str): Image interpolation. Defaults to ``'bilinear'``.
    """

    def __init__(self, ratio_range: Tuple[float, float] = (0.5, 1.5), prob: float = 1.0,
                 interpolation: str = 'bilinear') -> None:
        if not 0 < ratio_range[0] <= ratio_range[1]:
            raise ValueError(f'ratio_range must be 0 < low <= high, got {ratio_range}')
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.ratio_range = tuple(ratio_range)
        self.prob = prob
        self.interpolation = interpolation

    @cache_randomness
    def _random_ratio(self) -> float:
        if np.random.rand() >= self.prob:
            return 1.0
        return float(np.random.uniform(*self.ratio_range))

    def transform(self, results: dict) -> dict:
        ratio = self._random_ratio()
        if ratio == 1.0:
            return results
        img = results['img']
        h, w = img.shape[:2]
        new_w, new_h = max(1, int(round(w * ratio))), max(1, int(round(h * ratio)))
        results['img'] = mmcv.imresize(img, (new_w, new_h), interpolation=self.interpolation)
        for key in results.get('seg_fields', []):
            results[key] = mmcv.imresize(results[key], (new_w, new_h), interpolation='nearest')
        results['img_shape'] = (new_h, new_w)
        results['scale_factor'] = (new_w / w, new_h / h)
        results['rescale_ratio'] = ratio
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(ratio_range={self.ratio_range}, prob={self.prob})'
