"""Tensor augmentations of the pretraining (paper §3.3, §7, Table 1 MoCo baseline).

All randomness comes from torch's global generator, whose state the checkpoint
carries (:class:`RNGStateHook`), so a resumed run draws the same augmentations.
"""
from typing import Tuple

import torch
import torch.nn.functional as F


def random_flips(x: torch.Tensor) -> torch.Tensor:
    """Independent random horizontal and vertical flips per sample of ``(B, C, H, W)``."""
    b = x.shape[0]
    hflip = torch.rand(b) < 0.5
    vflip = torch.rand(b) < 0.5
    x = torch.where(hflip.to(x.device)[:, None, None, None], x.flip(-1), x)
    return torch.where(vflip.to(x.device)[:, None, None, None], x.flip(-2), x)


def random_jpeg(x: torch.Tensor, quality: Tuple[int, int] = (70, 95),
                prob: float = 0.5) -> torch.Tensor:
    """JPEG-compress each uint8 ``(B, 3, H, W)`` sample with probability ``prob``.

    The quality factor is drawn uniformly from ``quality`` (inclusive).
    """
    from torchvision.io import decode_jpeg, encode_jpeg
    if x.dtype != torch.uint8:
        raise TypeError(f'random_jpeg expects uint8 patches, got {x.dtype}')
    apply = torch.rand(x.shape[0]) < prob
    qf = torch.randint(quality[0], quality[1] + 1, (x.shape[0], ))
    out = x.clone()
    for i in torch.nonzero(apply).flatten().tolist():
        img = x[i].cpu()
        out[i] = decode_jpeg(encode_jpeg(img, quality=int(qf[i]))).to(x.device)
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
