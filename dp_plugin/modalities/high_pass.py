"""Frequency-domain high-pass input filter (the paper's Table 3 "HP filter" ablation)."""
import torch
import torch.nn as nn


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
