"""DiffusionPrint: the generative-fingerprint modality."""
from typing import Optional

import torch

from dp_plugin.registry import MODALITIES
from .dncnn_modality import DnCNNModality
from .high_pass import FFTHighPass


@MODALITIES.register_module()
class DiffusionPrint(DnCNNModality):
    """Frozen DiffusionPrint extractor: a 17-layer DnCNN with a 64-channel output.

    Trained on ``ToTensor()`` inputs, hence ``pixel_divisor=255`` by default.

    Args:
        checkpoint (str, optional): Weights: this project's export, the authors'
            training checkpoint (``model_state_dict`` with ``encoder_q.*``) and others.
        out_channels (int): Output channels. Defaults to 64.
        input_highpass (float, optional): Cut-off of the FFT high-pass applied to the
            input before the DnCNN; set it when the backbone was pretrained with the
            HP-filter ablation (an export's metadata records it).
    """

    def __init__(self, checkpoint: Optional[str] = None, out_channels: int = 64,
                 depth: int = 17, width: int = 64, frozen: bool = True,
                 pixel_divisor: float = 255.0, input_highpass: Optional[float] = None,
                 init_cfg=None) -> None:
        super().__init__(out_channels=out_channels, depth=depth, width=width,
                         checkpoint=checkpoint, frozen=frozen,
                         pixel_divisor=pixel_divisor, init_cfg=init_cfg)
        self.high_pass = FFTHighPass(input_highpass) if input_highpass else None

    def extract(self, x: torch.Tensor) -> torch.Tensor:
        if self.high_pass is not None:
            x = self.high_pass(x)
        return super().extract(x)
