"""Fully-regenerative latent inpainting with a simulated generator.

Mirrors what latent-diffusion inpainting pipelines do to an image (Blended Latent
Diffusion: the latent inside the downsampled mask is replaced, then the *whole* latent goes
through one decoder pass): every output pixel comes from the decoder, so authentic regions
outside the mask are regenerated too (the "FR" images of TGIF).

The new content inside the mask is generated, not copied: the latent hole is filled by the
harmonic (Laplace) interpolation of the surrounding latent, which makes its low-order
colour statistics follow the surround, plus fresh detail sampled from the generator's
latent prior.
"""
from typing import Optional

import numpy as np
import torch
from scipy import sparse
from scipy.sparse.linalg import spsolve

from .generators import DOWNSAMPLE, load_generator


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """uint8 ``(H,W,3)`` -> float ``(1,3,H,W)`` in [0, 1]."""
    return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 255


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """float ``(1,3,H,W)`` -> uint8 ``(H,W,3)`` (clamped, rounded)."""
    return (x[0].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).contiguous().numpy()


def latent_mask(mask: np.ndarray) -> np.ndarray:
    """Pixel mask ``(H,W)`` -> latent mask: a latent cell is replaced if any of its pixels is masked."""
    h, w = mask.shape
    m = mask.reshape(h // DOWNSAMPLE, DOWNSAMPLE, w // DOWNSAMPLE, DOWNSAMPLE)
    return m.any(axis=(1, 3))


def harmonic_fill(z: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Fill ``z[:, hole]`` (``z``: (C,h,w)) with the solution of Laplace's equation whose
    boundary values are the known latent around the hole (4-neighbourhood, zero-flux at the
    image border)."""
    c, h, w = z.shape
    idx = -np.ones((h, w), np.int64)
    ys, xs = np.nonzero(hole)
    n = len(ys)
    idx[ys, xs] = np.arange(n)
    rows, cols, vals = [], [], []
    deg = np.zeros(n)
    rhs = np.zeros((n, c))
    for dy, dx in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        deg += inside
        k = np.nonzero(inside)[0]
        nb = idx[ny[k], nx[k]]
        unknown = nb >= 0
        rows.append(k[unknown])
        cols.append(nb[unknown])
        vals.append(-np.ones(unknown.sum()))
        kk = k[~unknown]
        rhs[kk] += z[:, ny[kk], nx[kk]].T
    a = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    a = a + sparse.diags(deg)
    sol = spsolve(a.tocsc(), rhs)
    out = z.copy()
    out[:, ys, xs] = np.asarray(sol).reshape(n, c).T
    return out


@torch.no_grad()
def encode(img: np.ndarray, generator: str) -> torch.Tensor:
    """Latent ``(1,C,H/4,W/4)`` of a uint8 ``(H,W,3)`` image under ``generator``'s encoder."""
    h, w = img.shape[:2]
    if img.ndim != 3 or img.shape[2] != 3 or h % DOWNSAMPLE or w % DOWNSAMPLE:
        raise ValueError(f'expected an RGB image whose sides are multiples of {DOWNSAMPLE}, got {img.shape}')
    return load_generator(generator)[0].encode(to_tensor(img))


@torch.no_grad()
def regenerate(img: np.ndarray, mask: Optional[np.ndarray], generator: str, seed: int,
               latent: Optional[torch.Tensor] = None) -> np.ndarray:
    """Fully-regenerative inpainting of ``img`` (uint8 (H,W,3), H and W multiples of 4).

    ``mask`` (bool (H,W), True = inpaint) may be ``None`` or empty: pure latent
    reconstruction. ``latent`` may pass ``encode(img, generator)`` computed before.
    Deterministic in ``seed``. Returns uint8 (H,W,3).
    """
    ae, prior, _ = load_generator(generator)
    h, w = img.shape[:2]
    z = encode(img, generator) if latent is None else latent
    if mask is not None and mask.any():
        if mask.shape != (h, w):
            raise ValueError(f'mask shape {mask.shape} does not match image {h}x{w}')
        hole = latent_mask(mask)
        zn = z[0].double().numpy()
        if hole.all():  # nothing to condition on: pure prior sample
            fill = prior.sample(*hole.shape, torch.Generator().manual_seed(seed))[0].double().numpy()
        else:
            fill = harmonic_fill(zn, hole)
            gen = torch.Generator().manual_seed(seed)
            fill = fill + prior.sample_detail(*hole.shape, gen)[0].double().numpy()
        zn = np.where(hole[None], fill, zn)
        z = torch.from_numpy(zn).float()[None]
    return to_uint8(ae.decode(z))


@torch.no_grad()
def generate(generator: str, size: int, seed: int) -> np.ndarray:
    """A "fully generated" uint8 ``(size,size,3)`` image: a latent sampled from the
    generator's prior, decoded."""
    ae, prior, _ = load_generator(generator)
    if size % DOWNSAMPLE:
        raise ValueError(f'size {size} must be a multiple of {DOWNSAMPLE}')
    z = prior.sample(size // DOWNSAMPLE, size // DOWNSAMPLE, torch.Generator().manual_seed(seed))
    return to_uint8(ae.decode(z))
