"""Random fixed-size crop, padding small images with an ignored border."""
from typing import Sequence, Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from dp_plugin.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomCropPad(BaseTransform):
    """Crop ``crop_size`` at a random position; pad first when the image is smaller.

    Padding goes to the bottom/right; padded image pixels get ``pad_val`` and padded
    mask pixels ``seg_pad_val`` (255 = ignored by the losses and metrics), so every
    output has exactly ``crop_size``.

    Args:
        crop_size (int | tuple[int, int]): ``(h, w)`` of the output.
        pad_val (int | sequence): Image padding value. Defaults to 0.
        seg_pad_val (int): Mask padding value. Defaults to 255.
    """

    def __init__(self, crop_size: Union[int, Tuple[int, int]],
                 pad_val: Union[int, Sequence[int]] = 0, seg_pad_val: int = 255) -> None:
        if isinstance(crop_size, int):
            crop_size = (crop_size, crop_size)
        if len(crop_size) != 2 or min(crop_size) <= 0:
            raise ValueError(f'crop_size must be positive (h, w), got {crop_size}')
        self.crop_size = (int(crop_size[0]), int(crop_size[1]))
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val

    @cache_randomness
    def _offsets(self, h: int, w: int) -> Tuple[int, int]:
        ch, cw = self.crop_size
        return int(np.random.randint(0, max(h - ch, 0) + 1)), int(np.random.randint(0, max(w - cw, 0) + 1))

    def _pad(self, arr: np.ndarray, value) -> np.ndarray:
        ch, cw = self.crop_size
        h, w = arr.shape[:2]
        if h >= ch and w >= cw:
            return arr
        shape = (max(h, ch), max(w, cw)) + arr.shape[2:]
        out = np.empty(shape, dtype=arr.dtype)
        out[...] = np.asarray(value, dtype=arr.dtype)
        out[:h, :w] = arr
        return out

    def transform(self, results: dict) -> dict:
        ch, cw = self.crop_size
        img = self._pad(results['img'], self.pad_val)
        top, left = self._offsets(*img.shape[:2])
        results['img'] = img[top:top + ch, left:left + cw]
        for key in results.get('seg_fields', []):
            seg = self._pad(results[key], self.seg_pad_val)
            results[key] = seg[top:top + ch, left:left + cw]
        results['img_shape'] = (ch, cw)
        results['crop_offset'] = (top, left)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(crop_size={self.crop_size}, pad_val={self.pad_val}, '
                f'seg_pad_val={self.seg_pad_val})')
