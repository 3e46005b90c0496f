"""Confidence/detection training and per-image map restoring shared by TruFor and MMFusion."""
from typing import Dict, List

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
