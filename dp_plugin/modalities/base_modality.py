"""The interface every forensic modality implements."""
from abc import ABCMeta, abstractmethod

import torch
from mmengine.model import BaseModule


class BaseModality(BaseModule, metaclass=ABCMeta):
    """Base class of forensic modalities (DiffusionPrint, Noiseprint++, SRM, Bayar).

    Input convention: an RGB float tensor ``(B, 3, H, W)`` holding ``uint8 / 255``,
    i.e. values in [0, 1], *not* ImageNet-normalised. Output: ``(B, out_channels, H, W)``
    at the same height and width.

    The extractors were trained on different scalings: DiffusionPrint on
    ``ToTensor()`` inputs (``/255``), Noiseprint++ inside TruFor and MMFusion on
    ``/256`` inputs. ``pixel_divisor`` states the divisor the weights expect; the
    modality rescales its ``/255`` input by ``255 / pixel_divisor`` before extraction,
    so callers always pass ``/255`` data.

    A *frozen* modality has no trainable parameters, stays in eval mode when a parent
    module calls ``.train()``, runs under ``torch.no_grad()`` and therefore never
    updates its BatchNorm statistics.

    Args:
        frozen (bool): Freeze the extractor. Defaults to True.
        pixel_divisor (float): Divisor of uint8 pixels the weights were trained with.
        init_cfg (dict, optional): mmengine initialisation config.
    """

    #: Number of output channels; set by subclasses.
    out_channels: int = 0

    def __init__(self, frozen: bool = True, pixel_divisor: float = 255.0,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if pixel_divisor <= 0:
            raise ValueError(f'pixel_divisor must be positive, got {pixel_divisor}')
        self.frozen = bool(frozen)
        self.pixel_divisor = float(pixel_divisor)

    def _apply_frozen(self) -> None:
        """Apply the ``frozen`` flag; subclasses call it at the end of ``__init__``."""
        if self.frozen:
            self.freeze()

    def freeze(self) -> 'BaseModality':
        """Freeze in place: no gradients, eval mode from now on."""
        self.frozen = True
        for param in self.parameters():
            param.requires_grad_(False)
        super().train(False)
        return self

    def train(self, mode: bool = True) -> 'BaseModality':
        """Set train/eval mode; a frozen modality always stays in eval mode."""
        return super().train(bool(mode) and not self.frozen)

    def forward(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """Map ``/255`` RGB ``x`` to the modality; ``kwargs`` go to :meth:`extract`."""
        if x.dim() != 4 or x.size(1) != 3:
            raise ValueError(f'{type(self).__name__} expects RGB input of shape '
                             f'(B, 3, H, W), got {tuple(x.shape)}')
        if not x.is_floating_point():
            raise TypeError(f'{type(self).__name__} expects a float tensor in [0, 1] '
                            f'(uint8 / 255), got dtype {x.dtype}')
        if self.pixel_divisor != 255.0:
            x = x * (255.0 / self.pixel_divisor)
        if self.frozen:
            if self.training:  # e.g. after a direct ``module.training = True``
                super().train(False)
            with torch.no_grad():
                return self.extract(x, **kwargs)
        return self.extract(x, **kwargs)

    @abstractmethod
    def extract(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """Compute the modality map from rescaled RGB ``x``."""
