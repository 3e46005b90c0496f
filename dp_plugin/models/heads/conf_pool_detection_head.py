"""TruFor's confidence-pooled detection head (image-level integrity score)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from dp_plugin.registry import MODELS


def weighted_statistics_pooling(x: torch.Tensor,
                                log_weights: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Pool ``(B, C, H, W)`` maps into ``(B, 4C)`` weighted statistics.

    The pixel weights ``w = softmax(log_weights)`` (uniform when None) give, per channel,
    the soft-minimum ``-log sum w exp(-x)``, the soft-maximum ``log sum w exp(x)``, the
    weighted mean and the weighted mean of squares, concatenated in that order.
    """
    b, c = x.shape[:2]
    x = x.reshape(b, c, -1)
    if log_weights is None:
        log_w = x.new_zeros(b, 1, x.shape[-1])
    else:
        log_w = log_weights.reshape(b, 1, -1)
    log_w = F.log_softmax(log_w, dim=-1)
    w = log_w.exp()
    soft_min = -torch.logsumexp(log_w - x, dim=-1)
    soft_max = torch.logsumexp(log_w + x, dim=-1)
    mean = (w * x).sum(dim=-1)
    mean_sq = (w * x * x).sum(dim=-1)
    return torch.cat((soft_min, soft_max, mean, mean_sq), dim=1)


@MODELS.register_module()
class ConfPoolDetectionHead(BaseModule):
    """Integrity score from the localization and confidence logits (TruFor ``confpool``).

    Features (8): the statistics of the confidence logits with uniform weights, then the
    statistics of the localization logit difference ``forged - pristine`` weighted by
    ``sigmoid(conf)``. An MLP ``Linear(8, hidden) -> ReLU -> Dropout -> Linear(hidden, 1)``
    maps them to a detection logit; ``sigmoid`` of it is the score (1 = forged).

    Args:
        hidden_channels (int): MLP width. Defaults to 128.
        dropout_ratio (float): Dropout between the layers. Defaults to 0.5.
    """

    def __init__(self, hidden_channels: int = 128, dropout_ratio: float = 0.5,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.mlp = nn.Sequential(nn.Linear(8, hidden_channels), nn.ReLU(inplace=True),
                                 nn.Dropout(dropout_ratio), nn.Linear(hidden_channels, 1))

    @staticmethod
    def pool(seg_logits: torch.Tensor, conf_logits: torch.Tensor) -> torch.Tensor:
        """The 8 pooled features ``(B, 8)`` from ``(B, 2, H, W)`` and ``(B, 1, H, W)``."""
        if seg_logits.shape[1] != 2 or conf_logits.shape[1] != 1:
            raise ValueError('expected 2-class localization logits and 1-channel confidence '
                             f'logits, got {tuple(seg_logits.shape)} and '
                             f'{tuple(conf_logits.shape)}')
        diff = seg_logits[:, 1:2] - seg_logits[:, 0:1]
        return torch.cat((weighted_statistics_pooling(conf_logits),
                          weighted_statistics_pooling(diff, F.logsigmoid(conf_logits))), dim=1)

    def forward(self, seg_logits: torch.Tensor, conf_logits: torch.Tensor) -> torch.Tensor:
        """Detection logits ``(B,)``."""
        return self.mlp(self.pool(seg_logits, conf_logits)).squeeze(1)
