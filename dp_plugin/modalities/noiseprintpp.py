"""Noiseprint++ (TruFor's camera-model fingerprint) as a modality."""
from typing import Optional

import torch

from dp_plugin.registry import MODELS
from .dncnn_modality import DnCNNModality


@MODELS.register_module()
class NoisePrintPP(DnCNNModality):
    """Noiseprint++: a 17-layer DnCNN with one output channel.

    TruFor and MMFusion feed it ``/256`` inputs, hence ``pixel_divisor=256``.

    Args:
        checkpoint (str, optional): ``noiseprint++.th`` (``network``), TruFor's
            ``trufor.pth.tar`` (``dncnn.*``), MMFusion's ``np++.pth`` or its
            ``extractor_state_dict`` (``noiseprint.*``).
        tile_to_3 (bool): Repeat the single channel 3 times, as upstream TruFor and
            MMFusion do before their noise stream. Defaults to False.
        frozen (bool): Freeze the extractor. Defaults to True.
        pixel_divisor (float): Defaults to 256 (TruFor / MMFusion).
        **kwargs: ``tile_size``, ``fast_inference``, ``inference_layout``,
            ``precision`` and ``init_cfg`` of :class:`DnCNNModality`.
    """

    def __init__(self, checkpoint: Optional[str] = None, tile_to_3: bool = False,
                 frozen: bool = True, pixel_divisor: float = 256.0, **kwargs) -> None:
        super().__init__(out_channels=1, checkpoint=checkpoint, frozen=frozen,
                         pixel_divisor=pixel_divisor, **kwargs)
        self.tile_to_3 = tile_to_3
        if tile_to_3:
            self.out_channels = 3

    def extract(self, x: torch.Tensor, tile_size: Optional[int] = None) -> torch.Tensor:
        out = super().extract(x, tile_size=tile_size)
        return out.repeat(1, 3, 1, 1) if self.tile_to_3 else out
