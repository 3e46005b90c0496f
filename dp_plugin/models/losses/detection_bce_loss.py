"""TruFor's detection loss: class-weighted binary cross-entropy on the image label."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from dp_plugin.registry import MODELS


@MODELS.register_module()
class DetectionBCELoss(nn.Module):
    """Weighted ``BCE-with-logits`` between detection logits and image labels (1 = forged).

    TruFor weighs forged images by ``0.5 / 0.7`` and authentic ones by ``0.5 / 0.3`` and
    adds the term with weight 0.5. A crop counts as forged when it holds more than
    ``min_forged_pixels`` forged pixels (:meth:`labels_from_masks`).

    Args:
        fake_weight (float): Weight of forged samples. Defaults to 0.5 / 0.7.
        real_weight (float): Weight of authentic samples. Defaults to 0.5 / 0.3.
        min_forged_pixels (int): Forged-pixel count a crop must exceed. Defaults to 3.
        ignore_index (int): Ignored label in masks. Defaults to 255.
        loss_weight (float): Multiplier. Defaults to 0.5.
        loss_name (str): Defaults to ``'loss_det'``.
    """

    def __init__(self, fake_weight: float = 0.5 / 0.7, real_weight: float = 0.5 / 0.3,
                 min_forged_pixels: int = 3, ignore_index: int = 255, loss_weight: float = 0.5,
                 loss_name: str = 'loss_det') -> None:
        super().__init__()
        self.fake_weight = fake_weight
        self.real_weight = real_weight
        self.min_forged_pixels = min_forged_pixels
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def labels_from_masks(self, seg_label: torch.Tensor) -> torch.Tensor:
        """Image labels ``(B,)`` in {0., 1.} from ``(B, H, W)`` masks."""
        forged = ((seg_label == 1) & (seg_label != self.ignore_index)).flatten(1).sum(1)
        return (forged > self.min_forged_pixels).float()

    def forward(self, det_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """``det_logits`` ``(B,)``, ``labels`` ``(B,)`` in {0, 1}."""
        labels = labels.to(det_logits.dtype).reshape(det_logits.shape)
        weight = labels * self.fake_weight + (1 - labels) * self.real_weight
        loss = F.binary_cross_entropy_with_logits(det_logits, labels, weight=weight)
        return self.loss_weight * loss

    @property
    def loss_name(self) -> str:
        return self._loss_name
