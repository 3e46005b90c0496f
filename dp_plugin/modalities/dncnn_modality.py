"""Shared machinery of the DnCNN-based modalities (DiffusionPrint, Noiseprint++)."""
from typing import Optional

import torch

from .base_modality import BaseModality
from .dncnn import DnCNN


class DnCNNModality(BaseModality):
    """A modality whose extractor is a :class:`DnCNN`.

    Args:
        out_channels (int): DnCNN output channels.
        depth (int): DnCNN depth. Defaults to 17.
        width (int): DnCNN width. Defaults to 64.
        checkpoint (str, optional): Weights in any supported format
            (see :mod:`dp_plugin.modalities.checkpoint_formats`).
        frozen (bool): Freeze the extractor. Defaults to True.
        pixel_divisor (float): See :class:`BaseModality`.
    """

    def __init__(self, out_channels: int, depth: int = 17, width: int = 64,
                 checkpoint: Optional[str] = None, frozen: bool = True,
                 pixel_divisor: float = 255.0, init_cfg=None) -> None:
        super().__init__(frozen=frozen, pixel_divisor=pixel_divisor, init_cfg=init_cfg)
        self.out_channels = out_channels
        self.dncnn = DnCNN(3, out_channels, depth=depth, width=width)
        self.checkpoint = checkpoint
        if checkpoint is not None:
            self.load_checkpoint(checkpoint)
        self._apply_frozen()

    def load_checkpoint(self, filename: str) -> None:
        """Load DnCNN weights from ``filename`` (any supported format)."""
        from .checkpoint_formats import load_dncnn_state_dict
        state_dict = load_dncnn_state_dict(filename, self.dncnn)
        self.dncnn.load_state_dict(state_dict, strict=True)
        self._is_init = True  # keep mmengine's init_weights from overwriting them

    def extract(self, x: torch.Tensor) -> torch.Tensor:
        return self.dncnn(x)
