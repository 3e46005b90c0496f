"""SRM residual filters as a fixed modality."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from dp_plugin.registry import MODELS
from .base_modality import BaseModality


def srm_kernels() -> torch.Tensor:
    """The three classic 5x5 SRM high-pass kernels, shape ``(3, 5, 5)``."""
    kb = torch.tensor([[0, 0, 0, 0, 0],
                       [0, -1, 2, -1, 0],
                       [0, 2, -4, 2, 0],
                       [0, -1, 2, -1, 0],
                       [0, 0, 0, 0, 0]], dtype=torch.float32) / 4.0
    kv = torch.tensor([[-1, 2, -2, 2, -1],
                       [2, -6, 8, -6, 2],
                       [-2, 8, -12, 8, -2],
                       [2, -6, 8, -6, 2],
                       [-1, 2, -2, 2, -1]], dtype=torch.float32) / 12.0
    k2 = torch.tensor([[0, 0, 0, 0, 0],
                       [0, 0, 0, 0, 0],
                       [0, 1, -2, 1, 0],
                       [0, 0, 0, 0, 0],
                       [0, 0, 0, 0, 0]], dtype=torch.float32) / 2.0
    return torch.stack([kb, kv, k2])


@MODELS.register_module()
class SRM(BaseModality):
    """Three fixed SRM residual filters followed by a hard-tanh.

    Each output channel applies one kernel to R, G and B and sums the three
    responses. The filters are a buffer (``filters``, shape ``(3, 3, 5, 5)``), so the
    modality has no parameters.

    Args:
        clip (float): Hard-tanh bound; residuals are clipped to ``[-clip, clip]``.
        pixel_divisor (float): See :class:`BaseModality`; MMFusion feeds ``/256``.
        frozen (bool): SRM has no parameters either way; ``False`` only lets
            gradients flow through it (to its input).
    """

    out_channels = 3

    def __init__(self, clip: float = 2.0, pixel_divisor: float = 256.0,
                 frozen: bool = True, init_cfg=None) -> None:
        super().__init__(frozen=frozen, pixel_divisor=pixel_divisor, init_cfg=init_cfg)
        self.register_buffer('filters', srm_kernels().unsqueeze(1).repeat(1, 3, 1, 1))
        self.clip = nn.Hardtanh(-clip, clip)
        self._apply_frozen()

    def extract(self, x: torch.Tensor) -> torch.Tensor:
        return self.clip(F.conv2d(x, self.filters.to(x.dtype), padding=2))
