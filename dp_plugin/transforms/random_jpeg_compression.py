"""Random JPEG re-compression of the RGB image."""
from typing import Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from dp_plugin.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomJPEGCompression(BaseTransform):
    """Encode and decode the image as JPEG with a quality drawn uniformly (integers).

    In dp_plugin the modality runs inside the model, so any transform in the data
    pipeline acts on the RGB *before* the modality sees it (paper §9: resize + JPEG
    Q ~ U[30, 100]). Masks are untouched. Put it before padding so pad pixels are
    not compressed into the image.

    Args:
        quality (tuple[int, int]): Inclusive quality range. Defaults to (30, 100).
        prob (float): Probability of compressing. Defaults to 1.0.
    """

    def __init__(self, quality: Tuple[int, int] = (30, 100), prob: float = 1.0) -> None:
        low, high = int(quality[0]), int(quality[1])
        if not 1 <= low <= high <= 100:
            raise ValueError(f'quality must satisfy 1 <= low <= high <= 100, got {quality}')
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.quality = (low, high)
        self.prob = prob

    @cache_randomness
    def _random_quality(self) -> int:
        if np.random.rand() >= self.prob:
            return -1
        return int(np.random.randint(self.quality[0], self.quality[1] + 1))

    def transform(self, results: dict) -> dict:
        quality = self._random_quality()
        if quality < 0:
            return results
        img = results['img']
        if img.dtype != np.uint8:
            raise TypeError(f'RandomJPEGCompression expects a uint8 image, got {img.dtype} '
                            f'({results.get("img_path")})')
        ok, buf = cv2.imencode('.jpg', img, [int(cv2.IMWRITE_JPEG_QUALITY), quality])
        if not ok:
            raise RuntimeError(f'JPEG encoding failed for {results.get("img_path")}')
        flag = cv2.IMREAD_GRAYSCALE if img.ndim == 2 else cv2.IMREAD_COLOR
        out = cv2.imdecode(buf, flag)
        if img.ndim == 3 and img.shape[2] == 1:
            out = out[..., None]
        results['img'] = out
        results['jpeg_quality'] = quality
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(quality={self.quality}, prob={self.prob})'
