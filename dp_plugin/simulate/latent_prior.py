"""Per-generator latent prior used to *generate* new latent content.

A two-level Gaussian model over 4x4 latent patches, fitted on the latents a generator's
encoder produces for real photo crops:

- ``coarse``: the latent average-pooled by 4 (layout and colour at 1/16 of the image
  resolution), a full-covariance Gaussian over its 4x4 patches;
- ``fine``: the detail left after removing the (bilinearly upsampled) coarse level, a
  full-covariance Gaussian over its 4x4 patches.

Sampling draws independent patches on a half-overlapping grid and blends them with a
partition-of-unity window (variance-preserving for the zero-mean part), so a field of any
size can be drawn. It is a deliberately simple texture model: it reproduces the latent
statistics the decoder expects (hence the decoder's fingerprint in the output), not
semantic objects.
"""
from typing import Dict, Optional

import torch
import torch.nn.functional as F

PATCH = 4
STRIDE = 2
COARSE = 4


def _window(device=None) -> torch.Tensor:
    i = torch.arange(PATCH, dtype=torch.float64, device=device)
    w = torch.sin(torch.pi * (i + 0.5) / PATCH) ** 2  # sums to 1 at stride PATCH/2
    return (w[:, None] * w[None, :]).float()


def split_levels(z: torch.Tensor):
    """Latent (B,C,h,w) -> (coarse (B,C,h/4,w/4), fine (B,C,h,w))."""
    coarse = F.avg_pool2d(z, COARSE)
    fine = z - F.interpolate(coarse, size=z.shape[-2:], mode='bilinear', align_corners=False)
    return coarse, fine


class _PatchGaussian:

    def __init__(self, mean: torch.Tensor, chol: torch.Tensor, channels: int):
        self.mean, self.chol, self.channels = mean, chol, channels

    @classmethod
    def fit(cls, fields: torch.Tensor, eps: float = 1e-4) -> '_PatchGaussian':
        patches = F.unfold(fields.double(), PATCH, stride=1).transpose(1, 2).reshape(-1, fields.shape[1] * PATCH ** 2)
        mean = patches.mean(0)
        cov = torch.cov(patches.T) + eps * torch.eye(patches.shape[1], dtype=torch.float64)
        return cls(mean.float(), torch.linalg.cholesky(cov).float(), fields.shape[1])

    def sample(self, h: int, w: int, gen: torch.Generator, zero_mean: bool = False) -> torch.Tensor:
        """A (1,C,h,w) field of patches drawn from the Gaussian, blended by overlap-add."""
        nh, nw = (h + PATCH) // STRIDE, (w + PATCH) // STRIDE  # enough to cover with margin
        ph, pw = (nh - 1) * STRIDE + PATCH, (nw - 1) * STRIDE + PATCH
        eps = torch.randn(nh * nw, self.mean.numel(), generator=gen)
        win = _window().repeat(self.channels, 1, 1).reshape(-1)
        dev = (eps @ self.chol.T) * win  # zero-mean part
        fold = lambda v: F.fold(v.T.unsqueeze(0), (ph, pw), PATCH, stride=STRIDE)  # noqa: E731
        ones = torch.ones(nh * nw, self.mean.numel())
        norm = fold(ones * win ** 2).sqrt()
        out = fold(dev) / norm
        if not zero_mean:
            out = out + fold(self.mean.expand(nh * nw, -1) * win) / fold(ones * win)
        top, left = (ph - h) // 2, (pw - w) // 2
        return out[..., top:top + h, left:left + w]


class LatentPrior:
    """Two-level Gaussian latent-patch prior (see the module docstring)."""

    def __init__(self, coarse: _PatchGaussian, fine: _PatchGaussian):
        self.coarse, self.fine = coarse, fine

    @classmethod
    def fit(cls, latents: torch.Tensor) -> 'LatentPrior':
        """Fit on latents ``(N,C,h,w)`` with h, w >= 16."""
        coarse, fine = split_levels(latents)
        return cls(_PatchGaussian.fit(coarse), _PatchGaussian.fit(fine))

    def to_tensors(self) -> Dict[str, torch.Tensor]:
        return {'coarse_mean': self.coarse.mean, 'coarse_chol': self.coarse.chol,
                'fine_mean': self.fine.mean, 'fine_chol': self.fine.chol}

    @classmethod
    def from_tensors(cls, t: Dict[str, torch.Tensor]) -> 'LatentPrior':
        c = t['coarse_mean'].numel() // PATCH ** 2
        return cls(_PatchGaussian(t['coarse_mean'], t['coarse_chol'], c),
                   _PatchGaussian(t['fine_mean'], t['fine_chol'], c))

    def sample(self, h: int, w: int, gen: Optional[torch.Generator] = None) -> torch.Tensor:
        """A new latent ``(1,C,h,w)``: coarse layout upsampled plus fine detail."""
        gen = gen if gen is not None else torch.Generator().manual_seed(0)
        ch, cw = -(-h // COARSE), -(-w // COARSE)
        coarse = self.coarse.sample(ch, cw, gen)
        up = F.interpolate(coarse, size=(ch * COARSE, cw * COARSE), mode='bilinear', align_corners=False)
        return up[..., :h, :w] + self.sample_detail(h, w, gen)

    def sample_detail(self, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
        """Fine-level detail ``(1,C,h,w)`` (its fitted mean included, close to zero)."""
        return self.fine.sample(h, w, gen)
