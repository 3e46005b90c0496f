"""Built-in regeneration simulator (SIMULATED data; no Stable Diffusion / FLUX weights).

Tiny latent autoencoders trained by this project stand in for the VAEs of latent diffusion
inpainting pipelines; see docs/simulator.md. Python API::

    from dp_plugin.simulate import build_pretrain_set, build_localization_set
    build_pretrain_set('data/sim/pretrain', n_real=8, n_generated=2, size=64)
    build_localization_set('data/sim/localization', n_train=4, n_val=1, n_test=2, size=64)
"""
from .generators import (CLASS_LABELS, GENERATORS, HELDOUT_GENERATORS, TRAIN_GENERATORS, SimAutoencoder,
                         load_generator)
from .inpaint import generate, regenerate
from .latent_prior import LatentPrior
from .masks import make_mask, random_blob, random_rectangle
from .photos import PHOTO_SPLITS, PHOTOS, load_photo, random_crop
from .writers import build_localization_set, build_pretrain_set

__all__ = ['CLASS_LABELS', 'GENERATORS', 'HELDOUT_GENERATORS', 'TRAIN_GENERATORS', 'SimAutoencoder',
           'load_generator', 'generate', 'regenerate', 'LatentPrior', 'make_mask', 'random_blob',
           'random_rectangle', 'PHOTO_SPLITS', 'PHOTOS', 'load_photo', 'random_crop',
           'build_localization_set', 'build_pretrain_set']
