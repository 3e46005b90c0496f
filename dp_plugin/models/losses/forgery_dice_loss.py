"""Soft Dice loss on the forged-class probability."""
import torch
from torch import Tensor, nn

from dp_plugin.registry import MODELS


@MODELS.register_module()
class ForgeryDiceLoss(nn.Module):
    """``1 - 2 sum(p t) / (sum(p^e) + sum(t^e) + eps)`` per image, averaged over the batch.

    ``p`` is the forged-class probability (softmax channel 1, or sigmoid of a single
    channel) and ``t`` the binary mask; pixels equal to ``ignore_index`` are dropped.
    Unlike mmseg's ``DiceLoss`` it scores only the forged class and excludes ignored
    pixels from both sums.

    Args:
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        exponent (int): ``e`` in the denominator (TruFor uses 2, MMFusion 1). Defaults to 1.
        eps (float): Denominator stabiliser. Defaults to 1e-6.
        loss_name (str): Name in the logs. Defaults to ``'loss_dice'``.
    """

    def __init__(self, loss_weight: float = 1.0, exponent: int = 1, eps: float = 1e-6,
                 loss_name: str = 'loss_dice') -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self.exponent = exponent
        self.eps = eps
        self._loss_name = loss_name

    def forward(self, pred: Tensor, target: Tensor, weight=None, ignore_index: int = 255,
                **kwargs) -> Tensor:
        if pred.size(1) == 1:
            prob = pred[:, 0].sigmoid()
        else:
            prob = pred.softmax(dim=1)[:, 1]
        valid = (target != ignore_index).to(prob.dtype)
        tgt = (target == 1).to(prob.dtype) * valid
        prob = prob * valid
        inter = (prob * tgt).flatten(1).sum(1)
        denom = (prob.pow(self.exponent) + tgt.pow(self.exponent)).flatten(1).sum(1)
        dice = 2.0 * inter / (denom + self.eps)
        return self.loss_weight * (1.0 - dice).mean()

    @property
    def loss_name(self) -> str:
        return self._loss_name
