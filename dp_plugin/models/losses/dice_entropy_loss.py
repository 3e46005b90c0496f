"""TruFor's localization loss: weighted cross-entropy + Dice on the forged class."""
from typing import Optional, Sequence

import torch
import torch.nn as nn

from dp_plugin.registry import MODELS
from ..forgery_cross_entropy_loss import ForgeryCrossEntropyLoss
from ..forgery_dice_loss import ForgeryDiceLoss


@MODELS.register_module()
class DiceEntropyLoss(nn.Module):
    """``ce_weight * CE(class_weight) + dice_weight * Dice(p_forged)`` as one loss term.

    TruFor phase 2 uses ``0.3 * CE(weight=[0.5, 2.5]) + 0.7 * Dice`` (Dice exponent 2).
    The terms are :class:`ForgeryCrossEntropyLoss` and :class:`ForgeryDiceLoss` (Dice per
    image on the softmax forged probability over non-ignored pixels, batch mean); this
    class logs them as a single ``loss_dice_ce``. The call signature matches mmseg's
    ``loss_decode``.

    Args:
        ce_weight (float): Weight of the cross-entropy term. Defaults to 0.3.
        dice_weight (float): Weight of the Dice term. Defaults to 0.7.
        class_weight (sequence of float): CE class weights. Defaults to (0.5, 2.5).
        exponent (int): Exponent of the Dice denominator. Defaults to 2.
        ignore_index (int): Label to ignore. Defaults to 255.
        loss_weight (float): Overall multiplier. Defaults to 1.
        loss_name (str): Key in the loss dict. Defaults to ``'loss_dice_ce'``.
    """

    def __init__(self, ce_weight: float = 0.3, dice_weight: float = 0.7,
                 class_weight: Optional[Sequence[float]] = (0.5, 2.5), exponent: int = 2,
                 ignore_index: int = 255, loss_weight: float = 1.0,
                 loss_name: str = 'loss_dice_ce') -> None:
        super().__init__()
        self.ce = ForgeryCrossEntropyLoss(class_weight=class_weight, loss_weight=ce_weight)
        self.dice = ForgeryDiceLoss(loss_weight=dice_weight, exponent=exponent)
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, seg_logits: torch.Tensor, seg_label: torch.Tensor,
                weight: Optional[torch.Tensor] = None,
                ignore_index: Optional[int] = None, **kwargs) -> torch.Tensor:
        """``seg_logits`` ``(B, 2, H, W)``, ``seg_label`` ``(B, H, W)`` with 0/1/ignore."""
        if seg_logits.dim() != 4 or seg_logits.shape[1] != 2:
            raise ValueError(f'expected 2-class logits (B, 2, H, W), got {tuple(seg_logits.shape)}')
        if seg_label.dim() == 4:
            seg_label = seg_label.squeeze(1)
        ignore = self.ignore_index if ignore_index is None else ignore_index
        return self.loss_weight * (self.ce(seg_logits, seg_label, ignore_index=ignore)
                                   + self.dice(seg_logits, seg_label, ignore_index=ignore))

    @property
    def loss_name(self) -> str:
        return self._loss_name
