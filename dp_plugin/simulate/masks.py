"""Inpainting masks: object-like blobs ("semantic-like") and random rectangles (TGIF2)."""
import numpy as np
from scipy import ndimage


def random_rectangle(rng: np.random.Generator, size: int, min_side: int = 64,
                     max_frac: float = 0.6) -> np.ndarray:
    """One axis-aligned rectangle, each side in [min_side, max_frac * size] (TGIF2 "random").

    When ``max_frac * size < min_side`` (images smaller than ~107 px) the lower bound
    becomes ``max_frac * size``. Returns a bool ``(size, size)`` mask.
    """
    hi = int(max_frac * size)
    lo = min(min_side, hi)
    rh, rw = int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1))
    top, left = int(rng.integers(size - rh + 1)), int(rng.integers(size - rw + 1))
    m = np.zeros((size, size), bool)
    m[top:top + rh, left:left + rw] = True
    return m


def random_blob(rng: np.random.Generator, size: int, area_range=(0.06, 0.3)) -> np.ndarray:
    """An object-shaped blob: one connected, hole-free region of a thresholded smooth field.

    A few anisotropic Gaussian bumps around a random centre are summed and thresholded at
    the level that gives a target area drawn in ``area_range``; the largest connected
    component is kept and its holes filled. Returns a bool ``(size, size)`` mask.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    cy, cx = rng.uniform(0.25, 0.75, size=2)
    field = np.zeros((size, size))
    for _ in range(int(rng.integers(2, 6))):
        by, bx = cy + rng.normal(0, 0.12), cx + rng.normal(0, 0.12)
        sy, sx = rng.uniform(0.05, 0.2, size=2)
        theta = rng.uniform(0, np.pi)
        dy, dx = yy - by, xx - bx
        u = np.cos(theta) * dx + np.sin(theta) * dy
        v = -np.sin(theta) * dx + np.cos(theta) * dy
        field += rng.uniform(0.5, 1.0) * np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
    field = ndimage.gaussian_filter(field + 0.05 * rng.standard_normal(field.shape), size / 64)
    area = rng.uniform(*area_range)
    mask = field > np.quantile(field, 1 - area)
    labels, n = ndimage.label(mask)
    if n > 1:
        sizes = ndimage.sum(mask, labels, index=np.arange(1, n + 1))
        mask = labels == (1 + int(np.argmax(sizes)))
    return ndimage.binary_fill_holes(mask)


def make_mask(rng: np.random.Generator, size: int, kind: str) -> np.ndarray:
    """``kind`` is ``'segm'`` (blob) or ``'random'`` (rectangle)."""
    if kind == 'segm':
        return random_blob(rng, size)
    if kind == 'random':
        return random_rectangle(rng, size)
    raise ValueError(f"unknown mask kind {kind!r}; expected 'segm' or 'random'")
