"""Tensor augmentations of the pretraining (paper §3.3, §7, Table 1 MoCo baseline).

All randomness comes from torch's global generator, whose state the checkpoint
carries (:class:`RNGStateHook`), so a resumed run draws the same augmentations.
"""
from typing import Tuple

import torch
import torch.nn.functional as F


def random_flips(x: torch.Tensor, per_batch: bool = False) -> torch.Tensor:
    """Random horizontal and vertical flips of ``(B, C, H, W)``: drawn per sample, or
    once for the whole batch (``per_batch``, what torchvision's flips do to a batch
    tensor in the authors' script)."""
    b = 1 if per_batch else x.shape[0]
    hflip = torch.rand(b, device=x.device) < 0.5  # drawn on the device: no host copy
    vflip = torch.rand(b, device=x.device) < 0.5
    x = torch.where(hflip[:, None, None, None], x.flip(-1), x)
    return torch.where(vflip[:, None, None, None], x.flip(-2), x)


def _jpeg_round_trip(img: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode a uint8 ``(3, H, W)`` CPU tensor as JPEG at ``quality`` and decode it (Pillow)."""
    import io

    import numpy as np
    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(img.permute(1, 2, 0).numpy()).save(buf, format='JPEG', quality=quality)
    buf.seek(0)
    with Image.open(buf) as im:
        return torch.from_numpy(np.asarray(im.convert('RGB')).copy()).permute(2, 0, 1)


def random_jpeg(x: torch.Tensor, quality: Tuple[int, int] = (70, 95),
                prob: float = 0.5) -> torch.Tensor:
    """JPEG-compress each uint8 ``(B, 3, H, W)`` sample with probability ``prob``.

    The quality factor is drawn uniformly from ``quality`` (inclusive).
    """
    if x.dtype != torch.uint8:
        raise TypeError(f'random_jpeg expects uint8 patches, got {x.dtype}')
    apply = torch.rand(x.shape[0]) < prob
    qf = torch.randint(quality[0], quality[1] + 1, (x.shape[0], ))
    out = x.clone()
    for i in torch.nonzero(apply).flatten().tolist():
        out[i] = _jpeg_round_trip(x[i].cpu(), int(qf[i])).to(x.device)
    return out


def moco_view(x: torch.Tensor, scale: Tuple[float, float] = (0.2, 1.0),
              jitter: float = 0.4) -> torch.Tensor:
    """A MoCo-v2-style augmented view of float ``(B, 3, P, P)`` patches in [0, 1].

    Random resized crop (area ``scale``, bilinear back to P), flips, brightness and
    contrast jitter. Used for the augmentation-only pairing baseline (Table 1).
    """
    b, _, h, w = x.shape
    area = torch.empty(b).uniform_(*scale)
    side_h = (area.sqrt() * h).clamp(min=2, max=h).long()
    side_w = (area.sqrt() * w).clamp(min=2, max=w).long()
    crops = []
    for i in range(b):
        top = int(torch.randint(0, h - int(side_h[i]) + 1, (1, )))
        left = int(torch.randint(0, w - int(side_w[i]) + 1, (1, )))
        crop = x[i:i + 1, :, top:top + int(side_h[i]), left:left + int(side_w[i])]
        crops.append(F.interpolate(crop, size=(h, w), mode='bilinear', align_corners=False))
    x = random_flips(torch.cat(crops))
    bright = torch.empty(b, 1, 1, 1).uniform_(1 - jitter, 1 + jitter).to(x)
    contrast = torch.empty(b, 1, 1, 1).uniform_(1 - jitter, 1 + jitter).to(x)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x * bright - mean) * contrast + mean).clamp(0, 1)
