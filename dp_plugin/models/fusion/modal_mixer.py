"""MMFusion's early-fusion modal mixer: several modality maps -> one 3-channel image."""
from typing import List, Sequence

import torch
import torch.nn as nn
from mmengine.model import BaseModule, ModuleList

from dp_plugin.registry import MODELS
from .early_conv import EarlyConv


@MODELS.register_module()
class ModalMixer(BaseModule):
    """One :class:`EarlyConv` per modality, concatenation, dropout, a mixing EarlyConv.

    Modality ``k`` (``in_channels[k]`` channels: 64 for DiffusionPrint next to 3 for
    SRM / Bayar / tiled Noiseprint++) goes through ``blocks[k]`` to ``block_channels``
    channels; the ``M * block_channels`` concatenation passes ``Dropout(dropout)`` and
    ``mixer`` (an EarlyConv) to ``out_channels``. Keys match MMFusion's ``ModalMixer``:
    ``blocks.{k}.convs.{j}.{0,1}.*``, ``blocks.{k}.final.*``, ``mixer.*``.

    Args:
        in_channels (sequence of int): Channels of each modality map, in input order.
        out_channels (int): Channels of the mixed image. Defaults to 3.
        block_channels (int): Output channels of each per-modality block. Defaults to 3.
        dropout (float): Dropout on the concatenation. Defaults to 0.33.
        norm_cfg (dict): Norm of the EarlyConv blocks.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int = 3,
                 block_channels: int = 3, dropout: float = 0.33,
                 norm_cfg: dict = dict(type='BN', eps=1e-3), init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        in_channels = [int(c) for c in in_channels]
        if not in_channels:
            raise ValueError('ModalMixer needs at least one modality')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.blocks = ModuleList(
            EarlyConv(c, block_channels, norm_cfg=norm_cfg) for c in in_channels)
        self.dropout = nn.Dropout(dropout)
        self.mixer = EarlyConv(block_channels * len(in_channels), out_channels,
                               norm_cfg=norm_cfg)

    def forward(self, maps: Sequence[torch.Tensor]) -> torch.Tensor:
        """Mix ``M`` maps ``(B, in_channels[k], H, W)`` into ``(B, out_channels, H, W)``."""
        if len(maps) != len(self.blocks):
            raise ValueError(f'ModalMixer was built for {len(self.blocks)} modalities, '
                             f'got {len(maps)} maps')
        mixed: List[torch.Tensor] = [block(x) for block, x in zip(self.blocks, maps)]
        return self.mixer(self.dropout(torch.cat(mixed, dim=1)))
