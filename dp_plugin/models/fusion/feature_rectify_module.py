"""CMX feature rectification module (FRM)."""
from typing import Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from dp_plugin.registry import MODELS


class _ChannelWeights(nn.Module):
    """Per-channel gates of both streams from their pooled statistics.

    ``mlp``: Linear(4C, 4C/r) -> ReLU -> Linear(4C/r, 2C) -> Sigmoid on the concatenated
    average- and max-pooled features of ``[x1, x2]``.
    """

    def __init__(self, dim: int, reduction: int = 1) -> None:
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(4 * dim, 4 * dim // reduction), nn.ReLU(inplace=True),
                                 nn.Linear(4 * dim // reduction, 2 * dim), nn.Sigmoid())

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        both = torch.cat((x1, x2), dim=1)
        pooled = torch.cat((both.mean(dim=(2, 3)), both.amax(dim=(2, 3))), dim=1)
        weights = self.mlp(pooled)  # (B, 2C): first half gates stream 1, second stream 2
        return weights.view(-1, 2, self.dim, 1, 1).transpose(0, 1)  # (2, B, C, 1, 1)


class _SpatialWeights(nn.Module):
    """Per-pixel gates of both streams: Conv1x1(2C, C/r) -> ReLU -> Conv1x1(C/r, 2) -> Sigmoid."""

    def __init__(self, dim: int, reduction: int = 1) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Conv2d(2 * dim, dim // reduction, 1), nn.ReLU(inplace=True),
                                 nn.Conv2d(dim // reduction, 2, 1), nn.Sigmoid())

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        weights = self.mlp(torch.cat((x1, x2), dim=1))  # (B, 2, H, W)
        return weights.unsqueeze(2).transpose(0, 1)  # (2, B, 1, H, W)


@MODELS.register_module()
class FeatureRectifyModule(BaseModule):
    """Cross-modal feature rectification of CMX (Zhang et al., 2023).

    Each stream is corrected by the other one, gated per channel and per pixel::

        out1 = x1 + lambda_c * cw[1] * x2 + lambda_s * sw[1] * x2
        out2 = x2 + lambda_c * cw[0] * x1 + lambda_s * sw[0] * x1

    Parameter names (``channel_weights.mlp.{0,2}``, ``spatial_weights.mlp.{0,2}``) follow
    the CMX / TruFor checkpoints so their weights load unchanged.

    Args:
        dim (int): Channels of each stream.
        reduction (int): Hidden-width reduction of both gate MLPs. Defaults to 1.
        lambda_c (float): Weight of the channel-rectified term. Defaults to 0.5.
        lambda_s (float): Weight of the spatially rectified term. Defaults to 0.5.
    """

    def __init__(self, dim: int, reduction: int = 1, lambda_c: float = 0.5,
                 lambda_s: float = 0.5, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if dim % reduction:
            raise ValueError(f'dim ({dim}) must be divisible by reduction ({reduction})')
        self.lambda_c = lambda_c
        self.lambda_s = lambda_s
        self.channel_weights = _ChannelWeights(dim, reduction)
        self.spatial_weights = _SpatialWeights(dim, reduction)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Rectify two ``(B, C, H, W)`` feature maps; returns both, same shapes."""
        if x1.shape != x2.shape:
            raise ValueError(f'both streams must have the same shape, got {tuple(x1.shape)} '
                             f'and {tuple(x2.shape)}')
        cw = self.channel_weights(x1, x2)
        sw = self.spatial_weights(x1, x2)
        out1 = x1 + self.lambda_c * cw[1] * x2 + self.lambda_s * sw[1] * x2
        out2 = x2 + self.lambda_c * cw[0] * x1 + self.lambda_s * sw[0] * x1
        return out1, out2
