"""TruFor's localization loss: weighted cross-entropy + Dice on the forged class."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from dp_plugin.registry import MODELS


@MODELS.register_module()
class DiceEntropyLoss(nn.Module):
    """``ce_weight * CE(class_weight) + dice_weight * Dice(p_forged)``.

    TruFor phase 2 uses ``0.3 * CE(weight=[0.5, 2.5]) + 0.7 * Dice``. The Dice term is
    ``1 - 2 sum(p t) / (sum p^e + sum t^e + smooth)`` per image on the softmax
    probability of class 1 (forged), over the non-ignored pixels, averaged over the batch.
    The call signature matches mmseg's ``loss_decode`` so the loss also plugs into any
    :class:`BaseDecodeHead`.

    Args:
        ce_weight (float): Weight of the cross-entropy term. Defaults to 0.3.
        dice_weight (float): Weight of the Dice term. Defaults to 0.7.
        class_weight (sequence of float): CE class weights. Defaults to (0.5, 2.5).
        exponent (float): Exponent ``e`` of the Dice denominator. Defaults to 2.
        smooth (float): Dice smoothing. Defaults to 0.
        ignore_index (int): Label to ignore. Defaults to 255.
        loss_weight (float): Overall multiplier. Defaults to 1.
        loss_name (str): Key in the loss dict. Defaults to ``'loss_dice_ce'``.
    """

    def __init__(self, ce_weight: float = 0.3, dice_weight: float = 0.7,
                 class_weight: Optional[Sequence[float]] = (0.5, 2.5), exponent: float = 2.0,
                 smooth: float = 0.0, ignore_index: int = 255, loss_weight: float = 1.0,
                 loss_name: str = 'loss_dice_ce') -> None:
        super().__init__()
        self.ce_weight = ce_weight
        self.dice_weight = dice_weight
        self.class_weight = None if class_weight is None else list(class_weight)
        self.exponent = exponent
        self.smooth = smooth
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
        seg_label = seg_label.long()
        class_weight = (seg_logits.new_tensor(self.class_weight)
                        if self.class_weight is not None else None)
        valid = seg_label != ignore
        if valid.any():
            ce = F.cross_entropy(seg_logits, seg_label, weight=class_weight,
                                 ignore_index=ignore)
        else:
            ce = seg_logits.sum() * 0
        prob = seg_logits.softmax(dim=1)[:, 1] * valid
        target = ((seg_label == 1) & valid).to(prob.dtype)
        num = 2 * (prob * target).flatten(1).sum(1) + self.smooth
        den = (prob.pow(self.exponent) + target.pow(self.exponent)).flatten(1).sum(1)
        dice = 1 - num / (den + self.smooth).clamp_min(1e-6)
        return self.loss_weight * (self.ce_weight * ce + self.dice_weight * dice.mean())

    @property
    def loss_name(self) -> str:
        return self._loss_name
