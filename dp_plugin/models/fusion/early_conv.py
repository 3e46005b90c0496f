"""MMFusion's early convolution block: a small CNN mapping a modality map to 3 channels."""
from typing import Sequence

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule

from dp_plugin.registry import MODELS


@MODELS.register_module()
class EarlyConv(BaseModule):
    """``len(hidden_channels)`` x [3x3 conv, norm, ReLU] then a 1x1 conv to ``out_channels``.

    Layout as MMFusion's ``EarlyConv`` so its weights load one to one: ``convs.{j}.0``
    (conv with bias), ``convs.{j}.1`` (norm), ``convs.{j}.2`` (ReLU) and ``final``.
    With the defaults it maps ``in_channels`` -> 24 -> 48 -> 96 -> 3.

    Args:
        in_channels (int): Input channels (the modality's ``out_channels``; 64 for
            DiffusionPrint, 3 for SRM, Bayar and a tiled Noiseprint++).
        out_channels (int): Output channels. Defaults to 3.
        hidden_channels (sequence of int): Widths of the 3x3 layers.
        norm_cfg (dict): Norm after each 3x3 conv. Defaults to BN (eps 1e-3, as
            MMFusion's initialisation sets it).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3,
                 hidden_channels: Sequence[int] = (24, 48, 96),
                 norm_cfg: dict = dict(type='BN', eps=1e-3), init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if in_channels < 1 or out_channels < 1 or not hidden_channels:
            raise ValueError(f'EarlyConv needs positive widths, got in={in_channels}, '
                             f'out={out_channels}, hidden={tuple(hidden_channels)}')
        widths = [in_channels, *hidden_channels]
        self.convs = nn.Sequential(*[
            nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1),
                          build_norm_layer(norm_cfg, cout)[1],
                          nn.ReLU(inplace=True))
            for cin, cout in zip(widths[:-1], widths[1:])])
        self.final = nn.Conv2d(widths[-1], out_channels, 1)
        self.in_channels = in_channels
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            raise ValueError(f'EarlyConv expects {self.in_channels} input channels, '
                             f'got {tuple(x.shape)}')
        return self.final(self.convs(x))
