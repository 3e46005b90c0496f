"""Lightweight residual CNN encoder for forensic modality maps."""
from typing import List, Sequence

from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn

from dp_plugin.registry import MODELS


class _BasicBlock(nn.Module):
    """3x3-3x3 residual block; a 1x1 projection when stride or width change."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, norm_cfg: dict) -> None:
        super().__init__()
        self.conv1 = ConvModule(in_channels, out_channels, 3, stride, 1, norm_cfg=norm_cfg)
        self.conv2 = ConvModule(out_channels, out_channels, 3, 1, 1, norm_cfg=norm_cfg, act_cfg=None)
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = ConvModule(in_channels, out_channels, 1, stride, 0,
                                       norm_cfg=norm_cfg, act_cfg=None)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)
        return self.relu(self.conv2(self.conv1(x)) + identity)


@MODELS.register_module()
class ResidualForensicEncoder(BaseModule):
    """Four-scale residual CNN: strides 4/8/16/32, widths ``channels``.

    Stem: two stride-2 3x3 convs (to stride 4); each stage then has ``num_blocks[i]``
    basic residual blocks, the first of stages 2-4 with stride 2. Spatial sizes are
    ``ceil(H / stride)``, matching mmseg's ``MixVisionTransformer``.

    Args:
        in_channels (int): Channels of the modality map.
        channels (sequence[int]): Widths per scale. Defaults to (64, 128, 320, 512).
        num_blocks (sequence[int]): Residual blocks per scale. Defaults to (2, 2, 2, 1).
        stem_channels (int): Width of the first stem conv. Defaults to 32.
        norm_cfg (dict): Normalisation layer. Defaults to BN.
    """

    def __init__(self, in_channels: int, channels: Sequence[int] = (64, 128, 320, 512),
                 num_blocks: Sequence[int] = (2, 2, 2, 1), stem_channels: int = 32,
                 norm_cfg: dict = dict(type='BN', requires_grad=True), init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if len(channels) != len(num_blocks) or min(num_blocks) < 1:
            raise ValueError(f'channels {channels} and num_blocks {num_blocks} must have the same '
                             'length and at least one block per stage')
        self.in_channels = in_channels
        self.channels = tuple(channels)
        self.stem = nn.Sequential(
            ConvModule(in_channels, stem_channels, 3, 2, 1, norm_cfg=norm_cfg),
            ConvModule(stem_channels, channels[0], 3, 2, 1, norm_cfg=norm_cfg))
        stages, prev = [], channels[0]
        for i, (width, n) in enumerate(zip(channels, num_blocks)):
            blocks = [_BasicBlock(prev, width, 1 if i == 0 else 2, norm_cfg)]
            blocks += [_BasicBlock(width, width, 1, norm_cfg) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            prev = width
        self.stages = nn.ModuleList(stages)

    def forward(self, x: Tensor) -> List[Tensor]:
        x = self.stem(x)
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs
