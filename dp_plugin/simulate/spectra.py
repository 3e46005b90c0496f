"""Radial power spectra (paper Fig. 3) and simple residual fingerprint features."""
from typing import Tuple

import numpy as np

BAND: Tuple[float, float] = (0.2, 0.5)


def to_gray(img: np.ndarray) -> np.ndarray:
    """uint8 RGB ``(...,H,W,3)`` -> float luminance in [0, 1]."""
    return (img[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])) / 255


def radial_power(patches: np.ndarray, nbins: int = 16, band: Tuple[float, float] = BAND):
    """Mean radial power spectrum of grey patches ``(N,P,P)`` in ``band``.

    Each patch has its mean removed and a Hann window applied; power is ``|FFT|^2 / P^2``
    averaged over annuli of normalised radial frequency (cycles/pixel, Nyquist = 0.5).
    Returns ``(bin_centres (nbins,), per-patch spectra (N, nbins))``.
    """
    n, p, _ = patches.shape
    win = np.outer(np.hanning(p), np.hanning(p))
    x = (patches - patches.mean(axis=(1, 2), keepdims=True)) * win
    power = np.abs(np.fft.fft2(x)) ** 2 / (win ** 2).sum()
    f = np.fft.fftfreq(p)
    r = np.sqrt(f[:, None] ** 2 + f[None, :] ** 2)
    edges = np.linspace(band[0], band[1], nbins + 1)
    spectra = np.empty((n, nbins))
    for i in range(nbins):
        sel = (r >= edges[i]) & (r < edges[i + 1] if i < nbins - 1 else r <= edges[i + 1])
        spectra[:, i] = power[:, sel].mean(axis=1)
    return (edges[:-1] + edges[1:]) / 2, spectra


def band_power(patches: np.ndarray, band: Tuple[float, float] = BAND) -> np.ndarray:
    """Mean power in ``band`` of each grey patch ``(N,P,P)`` -> ``(N,)``."""
    return radial_power(patches, nbins=8, band=band)[1].mean(axis=1)


def grid_patches(img: np.ndarray, mask: np.ndarray, patch: int, inside: bool,
                 min_frac: float = 0.75):
    """Top-left corners of the non-overlapping ``patch`` grid cells of ``img`` that lie inside
    (``inside=True``: at least ``min_frac`` masked) or fully outside the mask."""
    h, w = mask.shape
    out = []
    for y in range(0, h - patch + 1, patch):
        for x in range(0, w - patch + 1, patch):
            frac = mask[y:y + patch, x:x + patch].mean()
            if (inside and frac >= min_frac) or (not inside and frac == 0):
                out.append((y, x))
    return out


def residual_features(img: np.ndarray) -> np.ndarray:
    """Fingerprint features of a uint8 RGB image: log power spectrum of its high-pass residual
    (image minus 3x3 box blur, per channel), average-pooled to an 8x8 grid of frequencies, plus
    the residual energy per pixel phase modulo 4 (up-sampling periodicity)."""
    from scipy import ndimage
    x = img.astype(np.float64) / 255
    res = x - ndimage.uniform_filter(x, size=(3, 3, 1), mode='reflect')
    g = res.mean(axis=2)
    h, w = g.shape
    p = np.abs(np.fft.fft2(g)) ** 2 / (h * w)
    p = np.log(p.reshape(8, h // 8, 8, w // 8).mean(axis=(1, 3)) + 1e-12).ravel()
    e = res ** 2
    phase = np.log(e.reshape(h // 4, 4, w // 4, 4, 3).mean(axis=(0, 2)) + 1e-12)
    phase = (phase - phase.mean()).ravel()
    return np.concatenate([p, phase])
