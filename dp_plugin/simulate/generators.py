"""Simulated latent generators: tiny latent autoencoders with different decoder families.

Each simulated generator is a small convolutional autoencoder trained by this project
(``tools/train_simulators.py``) on the photos bundled with scikit-image. The encoder is
shared in design (stride-4, 4 latent channels, like a miniature of the SD VAE); the
decoders differ in their upsampling operator, which is what leaves a generator-specific
spectral fingerprint (Durall et al., CVPR 2020; Zhang et al., WIFS 2019). They are
*simulated* generators: no Stable Diffusion / FLUX weights are involved anywhere.
"""
import json
import os.path as osp
from functools import lru_cache
from typing import Dict

import torch
from torch import nn

from dp_plugin.utils import atomic_write_bytes

from .names import CLASS_LABELS, GENERATORS, HELDOUT_GENERATORS, TRAIN_GENERATORS  # noqa: F401

LATENT_CHANNELS = 4
DOWNSAMPLE = 4
WIDTH = 48
WEIGHTS_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'weights')


def check_generator(name: str) -> str:
    if name not in GENERATORS:
        raise ValueError(f'unknown simulated generator {name!r}; expected one of {sorted(GENERATORS)}')
    return name


def _upsample(family: str, width: int) -> nn.Module:
    if family == 'nearest':
        return nn.Sequential(nn.Upsample(scale_factor=2, mode='nearest'),
                             nn.Conv2d(width, width, 3, padding=1))
    if family == 'bilinear':
        return nn.Sequential(nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False),
                             nn.Conv2d(width, width, 3, padding=1))
    if family == 'transposed':
        return nn.ConvTranspose2d(width, width, 4, stride=2, padding=1)
    if family == 'pixelshuffle':
        return nn.Sequential(nn.Conv2d(width, 4 * width, 3, padding=1), nn.PixelShuffle(2))
    raise ValueError(f'unknown decoder family {family!r}')


class SimAutoencoder(nn.Module):
    """Deterministic latent autoencoder: RGB in [0, 1] (B,3,H,W) <-> latent (B,4,H/4,W/4).

    Args:
        family: decoder upsampling family (``nearest``, ``bilinear``, ``transposed``,
            ``pixelshuffle``).
        width: channels of the hidden layers.
    """

    def __init__(self, family: str, width: int = WIDTH, latent_channels: int = LATENT_CHANNELS):
        super().__init__()
        self.family = family
        act = nn.SiLU
        self.encoder = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), act(),
            nn.Conv2d(width, width, 4, stride=2, padding=1), act(),
            nn.Conv2d(width, width, 4, stride=2, padding=1), act(),
            nn.Conv2d(width, latent_channels, 3, padding=1))
        self.decoder = nn.Sequential(
            nn.Conv2d(latent_channels, width, 3, padding=1), act(),
            _upsample(family, width), act(),
            nn.Conv2d(width, width, 3, padding=1), act(),
            _upsample(family, width), act(),
            nn.Conv2d(width, 3, 3, padding=1))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1], H and W multiples of 4 -> latent."""
        if x.shape[-1] % DOWNSAMPLE or x.shape[-2] % DOWNSAMPLE:
            raise ValueError(f'image size {tuple(x.shape[-2:])} must be a multiple of {DOWNSAMPLE}')
        return self.encoder(x * 2 - 1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent -> RGB, roughly in [0, 1] (not clamped)."""
        return (self.decoder(z) + 1) / 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


def weights_path(name: str, weights_dir: str = WEIGHTS_DIR) -> str:
    return osp.join(weights_dir, f'{check_generator(name)}.safetensors')


def save_generator(path: str, model: SimAutoencoder, prior_tensors: Dict[str, torch.Tensor],
                   meta: dict) -> None:
    """Write autoencoder weights (float16, to keep the committed files small) and the latent
    prior (float32) to one safetensors file, atomically."""
    from safetensors.torch import save
    tensors = {f'ae.{k}': v.detach().half().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f'prior.{k}': v.contiguous() for k, v in prior_tensors.items()})
    atomic_write_bytes(path, save(tensors, metadata={'dp_plugin_simulator': json.dumps(meta)}))


@lru_cache(maxsize=None)
def _load(path: str):
    from safetensors import safe_open
    from .latent_prior import LatentPrior
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'simulated generator weights not found: {path}; re-create them with '
            f'`python tools/train_simulators.py`')
    try:
        with safe_open(path, framework='pt') as f:
            meta = json.loads((f.metadata() or {})['dp_plugin_simulator'])
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        model = SimAutoencoder(meta['family'], width=meta['width'],
                               latent_channels=meta['latent_channels'])
        model.load_state_dict({k[3:]: v.float() for k, v in tensors.items() if k.startswith('ae.')})
        prior = LatentPrior.from_tensors({k[6:]: v for k, v in tensors.items()
                                          if k.startswith('prior.')})
    except Exception as err:  # corrupt file, foreign safetensors, wrong keys or shapes
        raise ValueError(f'{path}: not a simulated generator file written by '
                         f'tools/train_simulators.py ({type(err).__name__}: {err})') from err
    model.eval().requires_grad_(False)
    return model, prior, meta


def load_generator(name: str, weights_dir: str = WEIGHTS_DIR):
    """Return ``(autoencoder, latent_prior, meta)`` of a simulated generator (cached)."""
    return _load(weights_path(name, weights_dir))
