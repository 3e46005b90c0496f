"""Trainable adapters between a wide modality map and a 3-channel noise stream."""
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from dp_plugin.registry import MODELS

#: Adapter kinds: ``simple`` and ``deep`` map to 3 channels; ``widen`` (and None) pass the
#: map through and widen the first patch embedding of the noise stream instead.
ADAPTER_KINDS = ('simple', 'deep', 'widen')


@MODELS.register_module()
class ModalityAdapter(BaseModule):
    """Map a ``(B, in_channels, H, W)`` modality map to ``out_channels`` (3) channels.

    ``kind='simple'``: a trainable 1x1 conv. ``kind='deep'``: 3x3 conv to ``hidden``
    channels, BN, ReLU, 1x1 conv to ``out_channels`` (the DiffusionPrint authors' TruFor
    fork). The layers are ``layers.0`` (simple) or ``layers.{0,1,3}`` (deep).

    Args:
        in_channels (int): Channels of the modality map (64 for DiffusionPrint).
        kind (str): ``'simple'`` or ``'deep'``.
        out_channels (int): Channels the noise stream expects. Defaults to 3.
        hidden_channels (int): Width of the ``deep`` adapter. Defaults to 16.
    """

    def __init__(self, in_channels: int = 64, kind: str = 'simple', out_channels: int = 3,
                 hidden_channels: int = 16, init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if kind == 'simple':
            layers = [nn.Conv2d(in_channels, out_channels, 1)]
        elif kind == 'deep':
            layers = [nn.Conv2d(in_channels, hidden_channels, 3, padding=1, bias=False),
                      nn.BatchNorm2d(hidden_channels), nn.ReLU(inplace=True),
                      nn.Conv2d(hidden_channels, out_channels, 1)]
        else:
            raise ValueError(f'unknown adapter kind {kind!r}; expected "simple" or "deep" '
                             '("widen" needs no adapter module)')
        self.kind = kind
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.in_channels:
            raise ValueError(f'{self.kind} adapter expects {self.in_channels} channels, '
                             f'got {x.shape[1]}')
        return self.layers(x)


def build_modality_adapter(kind: Optional[str], in_channels: int,
                           out_channels: int = 3) -> Optional[ModalityAdapter]:
    """Build the adapter for ``kind`` (None for ``'widen'`` / None: pass-through)."""
    if kind is None or kind == 'widen':
        return None
    if kind not in ADAPTER_KINDS:
        raise ValueError(f'unknown adapter {kind!r}; choose one of {ADAPTER_KINDS} or None')
    return ModalityAdapter(in_channels=in_channels, kind=kind, out_channels=out_channels)
