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
    ``nbins`` is capped at ``(band width) * P`` so that every bin holds frequencies.
    Returns ``(bin_centres (nbins,), per-patch spectra (N, nbins))``.
    """
    n, p, _ = patches.shape
    nbins = max(1, min(nbins, int((band[1] - band[0]) * p)))
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


PATCH_TYPES = ('real src', 'real regen', 'gen src', 'gen inpainted')


def _read_rgb(path: str) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert('RGB'))


def _read_mask(path: str) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert('L')) > 0


def read_manifest(root: str) -> list:
    """Records of ``root/manifest.jsonl`` (pretraining layout, docs/contracts.md)."""
    import json
    import os.path as osp
    path = osp.join(root, 'manifest.jsonl')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} not found: expected a dataset in the pretraining layout '
                                f'(tools/simulate.py or tools/make_inpaintings.py output)')
    recs = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                missing = {'image_id', 'category', 'generator', 'source', 'inpainted', 'mask'} - set(r)
            except json.JSONDecodeError as e:
                raise ValueError(f'{path}:{n}: not JSON ({e})') from None
            if missing:
                raise ValueError(f'{path}:{n}: missing keys {sorted(missing)}')
            recs.append(r)
    return recs


def dataset_spectra(root: str, patch: int = 0, nbins: int = 16, max_records: int = 0,
                    progress: bool = True, log=print) -> dict:
    """Radial spectra in the band [0.2, 0.5] of the four patch types of a pretraining-layout
    dataset (paper Fig. 3), per generator.

    Real records give patches on a ``patch`` grid fully outside the mask (``real src`` from
    the source, ``real regen`` from the same positions of the inpainted image); generated
    records give patches at least 75 % inside the mask (``gen src``, ``gen inpainted``).
    ``patch=0`` picks ``min(64, side // 4)`` from the first record. Unreadable records are reported and skipped.
    Returns ``{'freqs': (nbins,), 'generators': {gen: {type: {'mean': (nbins,), 'n': int,
    'band_power': float}}}, 'skipped': [...]}``.
    """
    import os.path as osp

    from tqdm import tqdm
    recs = read_manifest(root)
    if max_records:
        recs = recs[:max_records]
    acc: dict = {}
    skipped = []
    freqs = None
    for r in tqdm(recs, desc='spectra', unit='rec', disable=not progress, dynamic_ncols=True):
        try:
            src = _read_rgb(osp.join(root, r['source']))
            inp = _read_rgb(osp.join(root, r['inpainted']))
            mask = _read_mask(osp.join(root, r['mask']))
            if not (src.shape == inp.shape and src.shape[:2] == mask.shape):
                raise ValueError(f'shapes differ: source {src.shape}, inpainted {inp.shape}, mask {mask.shape}')
        except Exception as e:  # report the bad item and continue
            skipped.append(f"{r['image_id']}/{r['generator']}: {e}")
            if log:
                log(f"skipping {r['image_id']} ({r['generator']}): {e}")
            continue
        if not patch:  # fixed from the first record so all spectra share their bins
            patch = min(64, min(mask.shape) // 4)
        p = patch
        real = r['category'] == 'real'
        cells = grid_patches(src, mask, p, inside=not real)
        if not cells:
            continue
        a = np.stack([to_gray(src[y:y + p, x:x + p]) for y, x in cells])
        b = np.stack([to_gray(inp[y:y + p, x:x + p]) for y, x in cells])
        g = acc.setdefault(r['generator'], {t: [] for t in PATCH_TYPES})
        for t, arr in zip(PATCH_TYPES[:2] if real else PATCH_TYPES[2:], (a, b)):
            freqs, spec = radial_power(arr, nbins=nbins)
            g[t].append(spec)
    out = {'freqs': freqs, 'generators': {}, 'skipped': skipped}
    for gen, types in acc.items():
        out['generators'][gen] = {}
        for t, specs in types.items():
            if specs:
                s = np.concatenate(specs)
                out['generators'][gen][t] = dict(mean=s.mean(0), n=len(s), band_power=float(s.mean()))
    return out
