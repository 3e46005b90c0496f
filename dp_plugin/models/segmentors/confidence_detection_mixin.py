"""Confidence/detection training, windowed inference and map restoring (TruFor, MMFusion)."""
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import torch
from mmseg.models.utils import resize
from mmseg.structures import SegDataSample
from torch import Tensor, nn


class ConfidenceDetectionMixin:
    """Methods of a segmentor with ``conf_head``, ``loss_conf`` and ``loss_det``.

    The host provides ``extract_feat``, ``decode_head``, ``conf_head``, ``loss_conf``,
    ``loss_det`` and ``align_corners`` (an mmseg ``EncoderDecoder`` plus those heads).
    """

    def _image_labels(self, data_samples: List[SegDataSample], masks: Tensor) -> Tensor:
        """Image labels ``(B,)`` for the detection loss; by default from the masks."""
        return self.loss_det.labels_from_masks(masks)

    def _confidence_detection_loss(self, inputs: Tensor, data_samples: List[SegDataSample],
                                   detection_head: nn.Module) -> Dict[str, Tensor]:
        """Confidence and detection losses with the localization branch held fixed."""
        with torch.no_grad():
            feats = self.extract_feat(inputs)
            seg = self.decode_head(feats)
        conf = self.conf_head(feats)
        masks = torch.stack([s.gt_sem_seg.data for s in data_samples]).squeeze(1).long()
        size = masks.shape[-2:]
        seg = resize(seg, size=size, mode='bilinear', align_corners=self.align_corners)
        conf = resize(conf, size=size, mode='bilinear', align_corners=self.align_corners)
        det = detection_head(seg, conf)
        return {self.loss_conf.loss_name: self.loss_conf(conf, seg, masks),
                self.loss_det.loss_name: self.loss_det(det, self._image_labels(data_samples,
                                                                               masks))}

    def _head_logits(self, feats: List[Tensor], size, detection_head) -> Dict[str, Tensor]:
        """Map, confidence and detection logits of fused ``feats`` at ``size``."""
        out = dict(seg=resize(self.decode_head(feats), size=size, mode='bilinear',
                              align_corners=self.align_corners))
        if self.conf_head is not None:
            out['conf'] = resize(self.conf_head(feats), size=size, mode='bilinear',
                                 align_corners=self.align_corners)
            if detection_head is not None:
                out['det'] = detection_head(out['seg'], out['conf'])
        return out

    def _window_logits(self, inputs: Tensor, crop_logits: Callable[[Tensor], Dict[str, Tensor]],
                       detection_head: Optional[nn.Module] = None) -> Dict[str, Tensor]:
        """Output maps of ``inputs`` as ``test_cfg`` asks, and the detection logit of them.

        ``crop_logits`` maps a ``(B, 3, h, w)`` window to ``(B, C, h, w)`` maps (``seg``,
        ``conf``, ...). ``mode='whole'`` runs it once; ``mode='slide'`` runs it on mmseg's
        windows (``crop_size``, ``stride``; same grid as ``EncoderDecoder.slide_inference``)
        and averages every map over the overlaps. The detection head then pools the
        stitched ``seg`` and ``conf`` logits of the whole image.
        """
        mode = self.test_cfg.get('mode', 'whole')
        if mode == 'whole':
            out = crop_logits(inputs)
        elif mode == 'slide':
            out = self._slide_logits(inputs, crop_logits)
        else:
            raise ValueError(f"test_cfg.mode must be 'whole' or 'slide', got {mode!r}")
        if detection_head is not None and 'conf' in out:
            out['det'] = detection_head(out['seg'], out['conf'])
        return out

    def _slide_logits(self, inputs: Tensor, crop_logits: Callable[[Tensor], Dict[str, Tensor]]
                      ) -> Dict[str, Tensor]:
        """Every map of ``crop_logits`` stitched from mmseg's sliding windows (mean on overlaps)."""
        batch, _, height, width = inputs.shape
        sums: Dict[str, Tensor] = {}
        count = inputs.new_zeros((batch, 1, height, width), dtype=torch.float32)
        for y1, y2, x1, x2 in slide_windows((height, width), self.test_cfg['crop_size'],
                                            self.test_cfg['stride']):
            for key, value in crop_logits(inputs[:, :, y1:y2, x1:x2]).items():
                if key not in sums:
                    sums[key] = value.new_zeros((batch, value.shape[1], height, width))
                sums[key][:, :, y1:y2, x1:x2] += value
            count[:, :, y1:y2, x1:x2] += 1
        return {key: value.div_(count) for key, value in sums.items()}  # in place: less memory

    def _restore(self, x: Tensor, meta: dict) -> Tensor:
        """Undo padding/flip of one ``(1, C, H, W)`` map and resize it to ``ori_shape``."""
        h, w = x.shape[-2:]
        left, right, top, bottom = meta.get('img_padding_size',
                                            meta.get('padding_size', [0] * 4))
        x = x[..., top:h - bottom, left:w - right]
        if meta.get('flip'):
            x = x.flip(dims=(3,) if meta.get('flip_direction') == 'horizontal' else (2,))
        if 'ori_shape' in meta:
            x = resize(x, size=meta['ori_shape'][:2], mode='bilinear',
                       align_corners=self.align_corners, warning=False)
        return x[0]


def slide_windows(size: Tuple[int, int], crop_size: Tuple[int, int], stride: Tuple[int, int]
                  ) -> Iterator[Tuple[int, int, int, int]]:
    """``(y1, y2, x1, x2)`` of mmseg's sliding windows over an image of ``size``.

    Rows of windows start every ``stride`` pixels; the last one is moved back to end at
    the border, and a crop larger than the image is clipped to it (no padding).
    """
    (height, width), (h_crop, w_crop), (h_stride, w_stride) = size, crop_size, stride
    if min(h_crop, w_crop, h_stride, w_stride) <= 0:
        raise ValueError(f'test_cfg crop_size {crop_size} and stride {stride} must be positive')
    if h_stride > h_crop or w_stride > w_crop:
        raise ValueError(f'test_cfg stride {stride} larger than crop_size {crop_size} leaves '
                         'pixels outside every window')
    h_grids = max(height - h_crop + h_stride - 1, 0) // h_stride + 1
    w_grids = max(width - w_crop + w_stride - 1, 0) // w_stride + 1
    for h_idx in range(h_grids):
        for w_idx in range(w_grids):
            y2 = min(h_idx * h_stride + h_crop, height)
            x2 = min(w_idx * w_stride + w_crop, width)
            yield max(y2 - h_crop, 0), y2, max(x2 - w_crop, 0), x2
