"""Load ImageNet weights into an RGB backbone from a local file (never downloads)."""
import importlib.util
import os.path as osp
from typing import Dict

import torch
from mmengine.logging import print_log
from torch import nn


def _convert_nvlabs_mit(state_dict: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Official SegFormer ``mit_b*.pth`` keys -> mmseg ``MixVisionTransformer`` keys.

    Uses the converter mmseg ships in ``mmseg/.mim/tools/model_converters/mit2mmseg.py``.
    """
    import mmseg
    path = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'model_converters', 'mit2mmseg.py')
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'official MiT weights need mmseg\'s converter {path}, which this mmseg install '
            'lacks; convert them with mmseg\'s tools/model_converters/mit2mmseg.py first')
    spec = importlib.util.spec_from_file_location('_dp_plugin_mit2mmseg', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.convert_mit(state_dict)


def load_rgb_pretrained(backbone: nn.Module, filename: str) -> None:
    """Load ``filename`` (mmseg or official SegFormer MiT format) into ``backbone``.

    Accepts a bare state dict or one under ``state_dict`` / ``model``, with or without a
    ``backbone.`` prefix. Raises if the file is missing, is a URL, or matches no key.
    """
    if '://' in filename:
        raise ValueError(f'rgb_pretrained must be a local file, got the URL {filename!r} '
                         '(dp_plugin never downloads weights)')
    if not osp.isfile(filename):
        raise FileNotFoundError(f'RGB-stream weights not found: {filename!r}')
    obj = torch.load(filename, map_location='cpu', weights_only=True)
    for key in ('state_dict', 'model'):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise ValueError(f'{filename}: expected a state dict, got {type(obj).__name__}')
    if any(k.startswith('backbone.') for k in obj):
        obj = {k[len('backbone.'):]: v for k, v in obj.items() if k.startswith('backbone.')}
    if 'patch_embed1.proj.weight' in obj:
        obj = _convert_nvlabs_mit(obj)
    own = backbone.state_dict()
    usable = {k: v for k, v in obj.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise ValueError(f'{filename}: no tensor matches the RGB backbone '
                         f'({type(backbone).__name__}); is it the right architecture?')
    backbone.load_state_dict(usable, strict=False)
    missing = sorted(set(own) - set(usable))
    print_log(f'RGB stream: loaded {len(usable)}/{len(own)} tensors from {filename}'
              + (f'; not in the file or mismatching: {missing[:5]}...' if missing else ''),
              logger='current')
