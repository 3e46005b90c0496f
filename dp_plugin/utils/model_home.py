"""The one place where dp_plugin looks for its default models and DiffusionPrint weights.

``model_home()`` is ``$DP_PLUGIN_HOME`` when that variable is set, else
``~/.cache/dp_plugin``. The configs use the same rule through mmengine's environment
substitution (``'{{$DP_PLUGIN_HOME:~/.cache/dp_plugin}}/diffusionprint.safetensors'``),
so ``XDG_CACHE_HOME`` is not read: set ``DP_PLUGIN_HOME`` to move the folder. Layout::

    diffusionprint.safetensors        DnCNN-17 export, read by the full-size configs
    diffusionprint_tiny.safetensors   tiny export (DnCNN-6/16), the tiny configs and `make demo`
    models/lite_dp/config.py          dp-localize's default model (`make demo` or
    models/lite_dp/best.pth             `dp-localize --install-model`)

Nothing here is ever looked up relative to the working directory. Only ``os`` is imported
at module level.
"""
import os
import os.path as osp
from typing import Tuple

#: Environment variable naming the model home.
HOME_ENV = 'DP_PLUGIN_HOME'
#: The model home when :data:`HOME_ENV` is unset (``~`` expanded at call time).
DEFAULT_HOME = osp.join('~', '.cache', 'dp_plugin')
#: File names inside the model home.
DP_WEIGHTS = 'diffusionprint.safetensors'
DP_TINY_WEIGHTS = 'diffusionprint_tiny.safetensors'
DEFAULT_MODEL = osp.join('models', 'lite_dp')


def model_home() -> str:
    """Absolute path of the model home (it need not exist)."""
    home = os.environ.get(HOME_ENV, DEFAULT_HOME)
    if not home:  # mmengine refuses an empty variable in the configs too
        raise ValueError(f'${HOME_ENV} is set but empty: unset it or name a folder')
    return osp.abspath(osp.expanduser(home))


def home_path(*parts: str) -> str:
    """``osp.join(model_home(), *parts)``."""
    return osp.join(model_home(), *parts)


def default_model() -> Tuple[str, str]:
    """``(config, checkpoint)`` of dp-localize's default model."""
    folder = home_path(DEFAULT_MODEL)
    return osp.join(folder, 'config.py'), osp.join(folder, 'best.pth')


def install_model(config: str, checkpoint: str) -> Tuple[str, str]:
    """Install a trained model as dp-localize's default; returns the installed paths.

    The weights are read weights-only (``.pth`` runner checkpoint, plain state dict or
    ``.safetensors``) and stored as a plain state dict; the config is copied verbatim.
    Both writes are atomic, so a failed install leaves the previous default intact.
    """
    import torch

    from dp_plugin.apis.inference import load_state_dict_safely
    from dp_plugin.utils.atomic_io import atomic_write
    if not osp.isfile(config):
        raise FileNotFoundError(f'config {config} not found')
    state = load_state_dict_safely(checkpoint)
    with open(config, encoding='utf-8') as src:
        text = src.read()
    target_config, target_checkpoint = default_model()
    with atomic_write(target_checkpoint) as fh:
        torch.save(state, fh)
    with atomic_write(target_config, 'w') as fh:
        fh.write(text)
    return target_config, target_checkpoint


def install_file(source: str, name: str) -> str:
    """Copy ``source`` atomically to ``model_home()/name``; returns the target path."""
    import shutil

    from dp_plugin.utils.atomic_io import atomic_write
    target = home_path(name)
    with open(source, 'rb') as src, atomic_write(target) as dst:
        shutil.copyfileobj(src, dst)
    return target
