"""Bayar's constrained convolution as a trainable modality."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from dp_plugin.registry import MODELS
from .base_modality import BaseModality


@MODELS.register_module()
class Bayar(BaseModality):
    """Constrained 5x5 convolution (Bayar & Stamm): centre tap -1, the other taps of
    every (out, in) kernel renormalised to sum to 1 at every forward.

    The free taps are one raw parameter ``kernel`` of shape
    ``(out_channels, in_channels, k * k - 1)``; it must reach the optimizer, which
    mmengine's default constructor guarantees (a test checks it).

    Args:
        out_channels (int): Output channels. Defaults to 3.
        kernel_size (int): Odd kernel size. Defaults to 5.
        frozen (bool): Bayar is trained with the fusion model by default.
        pixel_divisor (float): See :class:`BaseModality`; MMFusion feeds ``/256``.
    """

    def __init__(self, out_channels: int = 3, kernel_size: int = 5, frozen: bool = False,
                 pixel_divisor: float = 256.0, init_cfg=None) -> None:
        super().__init__(frozen=frozen, pixel_divisor=pixel_divisor, init_cfg=init_cfg)
        if kernel_size % 2 != 1:
            raise ValueError(f'kernel_size must be odd, got {kernel_size}')
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.kernel = nn.Parameter(torch.rand(out_channels, 3, kernel_size ** 2 - 1))
        self._apply_frozen()

    def constrained_weight(self) -> torch.Tensor:
        """The ``(out, 3, k, k)`` convolution weight obeying the Bayar constraint."""
        k = self.kernel_size
        free = self.kernel / self.kernel.sum(dim=-1, keepdim=True)
        centre = free.new_full(free.shape[:2] + (1,), -1.0)
        half = (k * k) // 2
        weight = torch.cat([free[..., :half], centre, free[..., half:]], dim=-1)
        return weight.reshape(self.out_channels, 3, k, k)

    def extract(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.constrained_weight().to(x.dtype), padding=self.kernel_size // 2)
