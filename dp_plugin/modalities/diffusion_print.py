"""DiffusionPrint: the generative-fingerprint modality."""
from typing import Optional

from dp_plugin.registry import MODALITIES
from .dncnn_modality import DnCNNModality


@MODALITIES.register_module()
class DiffusionPrint(DnCNNModality):
    """Frozen DiffusionPrint extractor: a 17-layer DnCNN with a 64-channel output.

    Trained on ``ToTensor()`` inputs, hence ``pixel_divisor=255`` by default.

    Args:
        checkpoint (str, optional): Weights: this project's export, the authors'
            training checkpoint (``model_state_dict`` with ``encoder_q.*``) and others.
        out_channels (int): Output channels. Defaults to 64.
    """

    def __init__(self, checkpoint: Optional[str] = None, out_channels: int = 64,
                 depth: int = 17, width: int = 64, frozen: bool = True,
                 pixel_divisor: float = 255.0, init_cfg=None) -> None:
        super().__init__(out_channels=out_channels, depth=depth, width=width,
                         checkpoint=checkpoint, frozen=frozen,
                         pixel_divisor=pixel_divisor, init_cfg=init_cfg)
