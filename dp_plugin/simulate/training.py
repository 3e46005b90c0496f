"""Deterministic CPU training of the simulated generators (used by tools/train_simulators.py)."""
import time
from typing import Callable, Optional

import numpy as np
import torch
import torch.nn.functional as F

from .generators import GENERATORS, LATENT_CHANNELS, WIDTH, SimAutoencoder, check_generator, save_generator
from .latent_prior import LatentPrior
from .photos import PHOTOS, random_crop

#: one fixed seed per generator so each can be re-trained alone with the same result.
GENERATOR_SEEDS = {'simnn': 11, 'simbl': 23, 'simtc': 37, 'simps': 53}


def _batch(rng: np.random.Generator, n: int, size: int) -> torch.Tensor:
    crops = [random_crop(rng, size, PHOTOS, scale_range=(0.35, 1.0))[0] for _ in range(n)]
    return torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255


def spectral_loss(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """L1 distance between log-amplitude spectra: keeps the decoder from simply blurring
    (as perceptual/adversarial losses do for real latent-diffusion VAEs), so its output has
    natural-looking high-frequency power whose fine structure is the decoder's own."""
    fy = torch.fft.rfft2(y - y.mean((-2, -1), keepdim=True)).abs()
    fx = torch.fft.rfft2(x - x.mean((-2, -1), keepdim=True)).abs()
    return F.l1_loss(torch.log1p(fy), torch.log1p(fx))


def train_generator(name: str, out_path: str, steps: int = 300, batch: int = 8, crop: int = 64,
                    prior_crops: int = 96, prior_size: int = 128, lr: float = 2e-3, spectral_weight: float = 0.5,
                    log: Optional[Callable[[str], None]] = print) -> dict:
    """Train one simulated autoencoder, fit its latent prior and save both to ``out_path``.

    Loss: L1 + ``spectral_weight`` x log-amplitude spectrum L1. Deterministic for a fixed
    torch version and thread count (single-threaded here).
    Returns the metadata stored in the file.
    """
    check_generator(name)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        seed = GENERATOR_SEEDS[name]
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        model = SimAutoencoder(GENERATORS[name])
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        t0 = time.time()
        for step in range(steps):
            x = _batch(rng, batch, crop)
            y = model(x)
            loss = F.l1_loss(y, x) + spectral_weight * spectral_loss(y, x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if log and (step + 1) % 100 == 0:
                log(f'{name}: step {step + 1}/{steps} L1 {loss.item():.4f}')
        model.eval()
        with torch.no_grad():
            x = _batch(np.random.default_rng(seed + 1), prior_crops, prior_size)
            z = model.encode(x)
            rec = model.decode(z).clamp(0, 1)
            psnr = float(10 * torch.log10(1 / F.mse_loss(rec, x)))
        prior = LatentPrior.fit(z)
        meta = dict(name=name, family=GENERATORS[name], width=WIDTH, latent_channels=LATENT_CHANNELS,
                    seed=seed, steps=steps, batch=batch, crop=crop, psnr_db=round(psnr, 2),
                    train_seconds=round(time.time() - t0, 1), torch=torch.__version__,
                    note='simulated generator of dp-plugin; not Stable Diffusion / FLUX')
        save_generator(out_path, model, prior.to_tensors(), meta)
        if log:
            log(f'{name}: reconstruction PSNR {psnr:.2f} dB, {meta["train_seconds"]} s -> {out_path}')
        return meta
    finally:
        torch.set_num_threads(threads)
