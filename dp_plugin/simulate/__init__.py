"""Built-in regeneration simulator (SIMULATED data; no Stable Diffusion / FLUX weights).

Tiny latent autoencoders trained by this project stand in for the VAEs of latent diffusion
inpainting pipelines; see docs/simulator.md. Python API::

    from dp_plugin.simulate import build_pretrain_set, build_localization_set
    build_pretrain_set('data/sim/pretrain', n_real=8, n_generated=2, size=64)
    build_localization_set('data/sim/localization', n_train=4, n_val=1, n_test=2, size=64)
"""
import importlib

#: public name -> submodule that defines it (imported on first use: ``dp-simulate --help``
#: and ``import dp_plugin.simulate.cli`` stay free of torch).
_EXPORTS = {
    'CLASS_LABELS': 'names', 'GENERATORS': 'names', 'HELDOUT_GENERATORS': 'names',
    'TRAIN_GENERATORS': 'names', 'SimAutoencoder': 'generators', 'load_generator': 'generators',
    'generate': 'inpaint', 'regenerate': 'inpaint', 'LatentPrior': 'latent_prior',
    'make_mask': 'masks', 'random_blob': 'masks', 'random_rectangle': 'masks',
    'PHOTO_SPLITS': 'photos', 'PHOTOS': 'photos', 'load_photo': 'photos',
    'random_crop': 'photos', 'build_localization_set': 'writers',
    'build_pretrain_set': 'writers',
}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f'.{_EXPORTS[name]}', __name__), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
