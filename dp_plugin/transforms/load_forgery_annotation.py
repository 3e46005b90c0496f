"""Load a binary forgery mask (authentic images get an all-zero one)."""
from typing import Optional

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine import fileio

from dp_plugin.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadForgeryAnnotation(BaseTransform):
    """Read ``seg_map_path`` as a binary map: non-zero = forged = 1, zero = 0.

    * ``seg_map_path=None`` and label 0 (authentic): an all-zero mask.
    * ``seg_map_path=None`` and label 1 (forged, no mask): all ``ignore_index``.
    * A mask whose size differs from the image is resized (nearest) when
      ``resize_to_image`` is true, otherwise it is an error naming both files.

    Must come after ``LoadImageFromFile`` (it needs the image shape).

    Required keys: ``img``, ``seg_map_path``; optional ``label``.
    Added keys: ``gt_seg_map``, ``seg_fields``.

    Args:
        threshold (int): Pixels ``> threshold`` are forged. Defaults to 0.
        resize_to_image (bool): Resize a mismatching mask. Defaults to True.
        ignore_index (int): Value for unknown pixels. Defaults to 255.
    """

    def __init__(self, threshold: int = 0, resize_to_image: bool = True,
                 ignore_index: int = 255, backend_args: Optional[dict] = None) -> None:
        self.threshold = threshold
        self.resize_to_image = resize_to_image
        self.ignore_index = ignore_index
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        if 'img' not in results:
            raise KeyError('LoadForgeryAnnotation needs the image: put it after LoadImageFromFile')
        h, w = results['img'].shape[:2]
        path = results.get('seg_map_path')
        if path is None:
            fill = self.ignore_index if int(results.get('label', 0)) == 1 else 0
            gt = np.full((h, w), fill, dtype=np.uint8)
        else:
            try:
                raw = mmcv.imfrombytes(fileio.get(path, backend_args=self.backend_args),
                                       flag='unchanged', backend='cv2')
            except Exception as exc:  # fileio raises many types
                raise OSError(f'cannot read mask {path} of image {results.get("img_path")}: '
                              f'{exc}') from exc
            if raw is None:
                raise OSError(f'cannot decode mask {path} (expected a PNG, non-zero = forged)')
            if raw.ndim == 3:
                raw = raw.max(axis=2)
            gt = (raw > self.threshold).astype(np.uint8)
            if gt.shape != (h, w):
                if not self.resize_to_image:
                    raise ValueError(f'mask {path} is {gt.shape[1]}x{gt.shape[0]} but image '
                                     f'{results.get("img_path")} is {w}x{h}')
                gt = cv2.resize(gt, (w, h), interpolation=cv2.INTER_NEAREST)
        results['gt_seg_map'] = gt
        results.setdefault('seg_fields', [])
        if 'gt_seg_map' not in results['seg_fields']:
            results['seg_fields'].append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(threshold={self.threshold}, '
                f'resize_to_image={self.resize_to_image}, ignore_index={self.ignore_index})')
