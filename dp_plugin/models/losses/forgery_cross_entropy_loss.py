"""Class-weighted cross-entropy that respects ignored pixels."""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dp_plugin.registry import MODELS


@MODELS.register_module()
class ForgeryCrossEntropyLoss(nn.Module):
    """PyTorch's weighted cross-entropy, mean over non-ignored pixels.

    The mean is ``sum(w_y * l) / sum(w_y)`` (``torch.nn.functional.cross_entropy``), as
    in TruFor's loss with class weights (0.5, 2.5). mmseg 1.2.2's ``CrossEntropyLoss``
    cannot be used with ``class_weight`` on masks holding the ignore value (it indexes
    the weights with 255).

    Args:
        class_weight (sequence[float], optional): Weight per class.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        loss_name (str): Name in the logs. Defaults to ``'loss_ce'``.
    """

    def __init__(self, class_weight: Optional[Sequence[float]] = None, loss_weight: float = 1.0,
                 loss_name: str = 'loss_ce') -> None:
        super().__init__()
        self.register_buffer('class_weight', None if class_weight is None
                             else torch.tensor(class_weight, dtype=torch.float32),
                             persistent=False)
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, pred: Tensor, target: Tensor, weight=None, ignore_index: int = 255,
                **kwargs) -> Tensor:
        target = target.long()
        if not (target != ignore_index).any():
            return pred.sum() * 0.0  # nothing to learn from, keep the graph
        class_weight = None if self.class_weight is None else self.class_weight.to(pred.dtype)
        return self.loss_weight * F.cross_entropy(pred, target, weight=class_weight,
                                                  ignore_index=ignore_index)

    @property
    def loss_name(self) -> str:
        return self._loss_name
