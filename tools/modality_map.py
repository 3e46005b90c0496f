"""Run a forensic modality on an image and write a picture of its map.

Examples::

    python tools/modality_map.py photo.jpg --modality DiffusionPrint \\
        --checkpoint work_dirs/dp.safetensors --out dp_map.png
    python tools/modality_map.py photo.jpg --modality NoisePrintPP \\
        --checkpoint ../shared/weights/noiseprint++/noiseprint++.th --out np_map.png --with-input

Maps with 3 or more channels are shown as their first three principal components (one
per RGB channel, ``--mode pca``, the default) or as the per-pixel channel norm
(``--mode norm``); 1-channel maps (Noiseprint++) in grey levels. Each displayed channel is
stretched between its 1st and 99th percentiles.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))


def read_rgb(path: str) -> np.ndarray:
    """uint8 RGB ``(H, W, 3)``; a clear error for unreadable files."""
    import cv2
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: image not found')
    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f'{path}: not an image OpenCV can read (expected PNG/JPEG/TIFF/...)')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def stretch(x: torch.Tensor) -> torch.Tensor:
    """Map ``(H, W)`` to [0, 1] between its 1st and 99th percentiles."""
    sample = x.flatten()
    if sample.numel() > 1_000_000:
        sample = sample[torch.randperm(sample.numel(), generator=torch.Generator().manual_seed(0))
                        [:1_000_000]]
    lo, hi = torch.quantile(sample, 0.01), torch.quantile(sample, 0.99)
    return ((x - lo) / (hi - lo).clamp_min(1e-12)).clamp(0, 1)


def pca3(feats: torch.Tensor) -> torch.Tensor:
    """First three principal components of ``(C, H, W)`` features -> ``(3, H, W)``."""
    c, h, w = feats.shape
    flat = feats.reshape(c, -1).double()
    flat = flat - flat.mean(dim=1, keepdim=True)
    idx = torch.randperm(flat.shape[1], generator=torch.Generator().manual_seed(0))[:200_000]
    sub = flat[:, idx]
    _, vecs = torch.linalg.eigh(sub @ sub.T / max(sub.shape[1] - 1, 1))
    comps = vecs[:, -3:].flip(1)  # largest variance first
    # Fix the sign so the picture does not flip between runs or checkpoints.
    comps = comps * torch.sign(comps[comps.abs().argmax(dim=0), torch.arange(3)])
    return (comps.T @ flat).reshape(3, h, w).float()


def render(feats: torch.Tensor, mode: str) -> np.ndarray:
    """uint8 RGB picture ``(H, W, 3)`` of a ``(C, H, W)`` map."""
    if feats.shape[0] == 1:
        img = stretch(feats[0]).unsqueeze(0).repeat(3, 1, 1)
    elif mode == 'norm':
        import matplotlib
        norm = stretch(feats.norm(dim=0)).numpy()
        return (matplotlib.colormaps['viridis'](norm)[..., :3] * 255).round().astype(np.uint8)
    else:
        comps = pca3(feats) if feats.shape[0] > 3 else feats
        img = torch.stack([stretch(ch) for ch in comps])
    return (img.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def write_png(path: str, rgb: np.ndarray) -> None:
    """Write ``rgb`` as a PNG atomically."""
    import cv2

    from dp_plugin.utils import atomic_write_bytes
    ok, png = cv2.imencode('.png', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f'{path}: could not encode the picture')
    atomic_write_bytes(path, png.tobytes())


def modality_map(image: np.ndarray, cfg: dict, tile_size: int = 1024) -> torch.Tensor:
    """``(C, H, W)`` map of a uint8 RGB image under the modality ``cfg``."""
    from dp_plugin import build_modality
    modality = build_modality(cfg).eval()
    x = torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0).float() / 255
    with torch.no_grad():
        if hasattr(modality, 'run_dncnn') and tile_size:
            return modality(x, tile_size=tile_size)[0]
        return modality(x)[0]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('image')
    parser.add_argument('--modality', default='DiffusionPrint',
                        help='DiffusionPrint, NoisePrintPP, SRM or Bayar')
    parser.add_argument('--checkpoint', help='weights for DiffusionPrint / NoisePrintPP')
    parser.add_argument('--out', required=True, help='output picture (.png)')
    parser.add_argument('--mode', choices=['pca', 'norm'], default='pca')
    parser.add_argument('--tile-size', type=int, default=1024,
                        help='DnCNN tile size (bounded memory); 0 runs untiled')
    parser.add_argument('--with-input', action='store_true',
                        help='put the input image left of the map')
    parser.add_argument('--threads', type=int, default=0, help='torch threads (0: default)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = dict(type=args.modality)
    if args.checkpoint:
        cfg['checkpoint'] = args.checkpoint
    elif args.modality in ('DiffusionPrint', 'NoisePrintPP'):
        print(f'warning: no --checkpoint: {args.modality} runs with random weights, '
              'so the map only shows the pipeline, not a forensic signal', file=sys.stderr)
    try:
        image = read_rgb(args.image)
        feats = modality_map(image, cfg, args.tile_size)
        picture = render(feats, args.mode)
        if args.with_input:
            picture = np.concatenate([image, picture], axis=1)
        write_png(args.out, picture)
    except (OSError, ValueError, KeyError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(f'{args.out}: {args.modality} map, {feats.shape[0]} channels, '
          f'{feats.shape[1]}x{feats.shape[2]} ({args.mode if feats.shape[0] > 1 else "grey"})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
