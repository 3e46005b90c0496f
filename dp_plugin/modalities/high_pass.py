"""High-pass input filters: the FFT one of the paper's Table 3 "HP filter" ablation and
the authors' Gaussian one (``input_highpass`` of their training script)."""
import math
from typing import Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F


class FFTHighPass(nn.Module):
    """Remove every spatial frequency with normalised radius ``<= cutoff``.

    Frequencies are in cycles per pixel (Nyquist = 0.5), the convention of the
    paper's spectra (band [0.2, 0.5]) and of its HP ablation (``f_norm <= 0.1``
    blocked). Applied per channel over the whole input.

    Args:
        cutoff (float): Normalised radius up to which frequencies are removed.
    """

    def __init__(self, cutoff: float = 0.1) -> None:
        super().__init__()
        if not 0.0 < cutoff < 0.5:
            raise ValueError(f'cutoff must be in (0, 0.5), got {cutoff}')
        self.cutoff = float(cutoff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        fy = torch.fft.fftfreq(h, device=x.device).abs().unsqueeze(1)
        fx = torch.fft.rfftfreq(w, device=x.device).unsqueeze(0)
        keep = (fy ** 2 + fx ** 2).sqrt() > self.cutoff
        spectrum = torch.fft.rfft2(x.float()) * keep
        return torch.fft.irfft2(spectrum, s=(h, w)).to(x.dtype)


class GaussianHighPass(nn.Module):
    """``x - GaussianBlur_sigma(x)`` per channel: the DiffusionPrint authors' input filter.

    Their ``input_highpass`` (sigma 1 by default): a normalised 2-D Gaussian of side
    ``max(3, 2 * ceil(3 * sigma) + 1)`` applied depthwise with zero padding.

    Args:
        sigma (float): Standard deviation of the blur in pixels.
    """

    def __init__(self, sigma: float = 1.0) -> None:
        super().__init__()
        if not sigma > 0:
            raise ValueError(f'sigma must be > 0, got {sigma}')
        self.sigma = float(sigma)
        side = max(3, 2 * math.ceil(3 * self.sigma) + 1)
        side += 1 - side % 2
        r = torch.arange(side, dtype=torch.float64) - side // 2
        g = torch.exp(-0.5 * (r / self.sigma) ** 2)
        g = g / g.sum()
        self.register_buffer('kernel', torch.outer(g, g).float()[None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        k = self.kernel.to(dtype=x.dtype).expand(c, 1, -1, -1)
        return x - F.conv2d(x, k, padding=k.shape[-1] // 2, groups=c)


def build_high_pass(spec: Union[None, float, dict]) -> Optional[nn.Module]:
    """The input filter of ``spec``: None / 0 (none), a float (:class:`FFTHighPass`
    cut-off) or ``dict(type='gaussian', sigma=...)`` (:class:`GaussianHighPass`)."""
    if not spec:
        return None
    if isinstance(spec, dict):
        kind = spec.get('type')
        if kind != 'gaussian' or set(spec) - {'type', 'sigma'}:
            raise ValueError(f"input_highpass dict must be dict(type='gaussian', sigma=...), "
                             f'got {spec!r}')
        return GaussianHighPass(float(spec.get('sigma', 1.0)))
    return FFTHighPass(float(spec))
