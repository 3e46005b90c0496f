"""TruFor's confidence loss: MSE against the true-class probability."""
from typing import Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from dp_plugin.registry import MODELS


def boundary_band_targets(seg_label: torch.Tensor, erode: int = 15, dilate: int = 11,
                          ignore_index: int = 255) -> Tuple[torch.Tensor, torch.Tensor]:
    """Forged pixels far inside the mask and pristine pixels far from it.

    Returns boolean ``(gt1, gt0)`` of shape ``(B, H, W)``: ``gt1`` is the forged mask
    eroded by an ``erode x erode`` window, ``gt0`` the complement of the forged mask
    dilated by ``dilate x dilate``; ignored pixels belong to neither. Pixels in the band
    between are excluded, as in TruFor's training and evaluation.
    """
    valid = seg_label != ignore_index
    forged = ((seg_label == 1) & valid).float().unsqueeze(1)
    eroded = -F.max_pool2d(-forged, erode, stride=1, padding=erode // 2)
    dilated = F.max_pool2d(forged, dilate, stride=1, padding=dilate // 2)
    gt1 = (eroded[:, 0] > 0.5) & valid
    gt0 = (dilated[:, 0] < 0.5) & valid
    return gt1, gt0


@MODELS.register_module()
class ConfidenceMSELoss(nn.Module):
    """``MSE(sigmoid(conf), tcp)`` on the pixels outside the boundary band.

    The true-class probability is ``tcp = p1 * gt1 + p0 * gt0`` with ``p`` the softmax of
    the (detached) localization logits and ``gt1`` / ``gt0`` from
    :func:`boundary_band_targets` (15 / 11 windows by default).

    Args:
        erode (int): Erosion window of the forged mask. Defaults to 15.
        dilate (int): Dilation window of the forged mask. Defaults to 11.
        ignore_index (int): Ignored label. Defaults to 255.
        loss_weight (float): Multiplier. Defaults to 1.
        loss_name (str): Defaults to ``'loss_conf'``.
    """

    def __init__(self, erode: int = 15, dilate: int = 11, ignore_index: int = 255,
                 loss_weight: float = 1.0, loss_name: str = 'loss_conf') -> None:
        super().__init__()
        if erode % 2 == 0 or dilate % 2 == 0:
            raise ValueError(f'erode and dilate must be odd, got {erode} and {dilate}')
        self.erode = erode
        self.dilate = dilate
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, conf_logits: torch.Tensor, seg_logits: torch.Tensor,
                seg_label: torch.Tensor) -> torch.Tensor:
        """Confidence ``(B, 1, H, W)``, localization ``(B, 2, H, W)`` logits, ``(B, H, W)`` labels."""
        if seg_label.dim() == 4:
            seg_label = seg_label.squeeze(1)
        if conf_logits.shape[-2:] != seg_label.shape[-2:] or \
                seg_logits.shape[-2:] != seg_label.shape[-2:]:
            raise ValueError(f'conf {tuple(conf_logits.shape)}, logits {tuple(seg_logits.shape)} '
                             f'and labels {tuple(seg_label.shape)} must share H and W')
        gt1, gt0 = boundary_band_targets(seg_label, self.erode, self.dilate, self.ignore_index)
        prob = seg_logits.detach().softmax(dim=1)
        tcp = prob[:, 1] * gt1 + prob[:, 0] * gt0
        mask = gt1 | gt0
        if not mask.any():
            return conf_logits.sum() * 0
        err = (conf_logits[:, 0].sigmoid() - tcp).pow(2)
        return self.loss_weight * err[mask].mean()

    @property
    def loss_name(self) -> str:
        return self._loss_name
