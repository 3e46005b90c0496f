"""A stand-in for ``mmcv.ops`` used only when mmcv has no compiled ops (mmcv-lite).

mmsegmentation 1.2.2 imports ``mmcv.ops`` while its modules load, which fails under
mmcv-lite with ``No module named 'mmcv._ext'``. This module registers a package object
for ``mmcv.ops`` that exposes the pure-PyTorch pieces mmseg needs at import time and
raises :class:`ModuleNotFoundError` for everything else (mmseg's optional-op guards
catch exactly that exception). With a full mmcv build nothing is replaced.
"""
import importlib.util
import os.path as osp
import sys
import types

import torch
import torch.nn.functional as F

_MISSING = ('mmcv.ops.{name} needs mmcv compiled with ops; dp_plugin is running on '
            'mmcv-lite. Install a full mmcv build to use it.')


def _has_compiled_ops() -> bool:
    try:
        return importlib.util.find_spec('mmcv._ext') is not None
    except (ImportError, ValueError):
        return False


def _point_sample(input: torch.Tensor, points: torch.Tensor,
                  align_corners: bool = False, **kwargs) -> torch.Tensor:
    """Bilinear sampling at normalised [0, 1] point coordinates (as mmcv)."""
    add_dim = points.dim() == 3
    if add_dim:
        points = points.unsqueeze(2)
    out = F.grid_sample(input, 2.0 * points - 1.0, align_corners=align_corners, **kwargs)
    return out.squeeze(3) if add_dim else out


def _sigmoid_focal_loss(*args, **kwargs):
    raise NotImplementedError(_MISSING.format(name='sigmoid_focal_loss'))


class _OpsStandIn(types.ModuleType):

    def __getattr__(self, name: str):
        if name.startswith('__'):
            raise AttributeError(name)
        raise ModuleNotFoundError(_MISSING.format(name=name), name='mmcv._ext')


def install() -> bool:
    """Register the stand-in if needed. Returns True when it was installed."""
    if 'mmcv.ops' in sys.modules or _has_compiled_ops():
        return False
    import mmcv
    ops = _OpsStandIn('mmcv.ops', 'dp_plugin stand-in for mmcv.ops (no compiled ops)')
    ops.__path__ = [osp.join(osp.dirname(mmcv.__file__), 'ops')]
    ops.__file__ = __file__
    ops.point_sample = _point_sample
    ops.sigmoid_focal_loss = _sigmoid_focal_loss
    ops.IS_STAND_IN = True
    sys.modules['mmcv.ops'] = ops
    mmcv.ops = ops
    return True
