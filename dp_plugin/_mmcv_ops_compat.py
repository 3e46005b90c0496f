"""A stand-in for ``mmcv.ops`` used only when mmcv has no compiled ops (mmcv-lite).

mmsegmentation 1.2.2 imports ``mmcv.ops`` while its modules load, which fails under
mmcv-lite with ``No module named 'mmcv._ext'``. :func:`install` puts an import hook on
``sys.meta_path`` (cheap: it imports nothing); when ``mmcv.ops`` is first imported and
mmcv has no compiled ops, the hook supplies a package object that exposes the
pure-PyTorch pieces mmseg needs at import time and raises :class:`ModuleNotFoundError`
for everything else (mmseg's optional-op guards catch exactly that exception). With a
full mmcv build nothing is replaced.

:func:`install` also filters the start-up warnings the supported install (mmcv-lite +
mmseg 1.2.2) would print for every run, each by its exact message and the
module that issues it; any other warning still shows:

* mmcv's "Fail to import ``MultiScaleDeformableAttention``" (that op needs compiled mmcv);
* mmseg's "``build_loss`` would be deprecated soon" (mmseg's own heads call it);
* mmseg's binary-segmentation hint to use ``out_channels=1`` (this project's two-class
  heads follow TruFor / MMFusion on purpose).
"""
import importlib.abc
import importlib.machinery
import importlib.util
import os.path as osp
import sys
import types
import warnings

_MISSING = ('mmcv.ops.{name} needs mmcv compiled with ops; dp_plugin is running on '
            'mmcv-lite. Install a full mmcv build to use it.')

#: (message regex, issuing module) of the known start-up warnings of mmcv-lite + mmseg.
KNOWN_STARTUP_WARNINGS = (
    (r'Fail to import ``MultiScaleDeformableAttention`` from '
     r'``mmcv\.ops\.multi_scale_deform_attn``', r'mmcv\.cnn\.bricks\.transformer'),
    (r'``build_loss`` would be deprecated soon', r'mmseg\.models\.builder'),
    (r'For binary segmentation, we suggest using`out_channels = 1`',
     r'mmseg\.models\.decode_heads\.decode_head'),
)


def _has_compiled_ops() -> bool:
    try:
        return importlib.util.find_spec('mmcv._ext') is not None
    except (ImportError, ValueError):
        return False


def _point_sample(input, points, align_corners: bool = False, **kwargs):
    """Bilinear sampling at normalised [0, 1] point coordinates (as mmcv)."""
    import torch.nn.functional as F
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


def filter_known_warnings() -> None:
    """Ignore exactly :data:`KNOWN_STARTUP_WARNINGS` (UserWarnings of mmcv / mmseg)."""
    for message, module in KNOWN_STARTUP_WARNINGS:
        warnings.filterwarnings('ignore', message=message, category=UserWarning,
                                module=module)


class _StandInLoader(importlib.abc.Loader):

    def create_module(self, spec):
        return _OpsStandIn(spec.name, 'dp_plugin stand-in for mmcv.ops (no compiled ops)')

    def exec_module(self, module) -> None:
        module.__file__ = __file__
        module.point_sample = _point_sample
        module.sigmoid_focal_loss = _sigmoid_focal_loss
        module.IS_STAND_IN = True


class _StandInFinder(importlib.abc.MetaPathFinder):
    """Supplies the stand-in for ``mmcv.ops`` when mmcv has no compiled ops."""

    def find_spec(self, fullname, path, target=None):
        if fullname != 'mmcv.ops' or not path or _has_compiled_ops():
            return None
        spec = importlib.machinery.ModuleSpec(fullname, _StandInLoader(), is_package=True)
        spec.submodule_search_locations = [osp.join(p, 'ops') for p in path]
        return spec


def install() -> bool:
    """Filter the known warnings and put the import hook in place (once).

    Returns True when the hook was added now."""
    filter_known_warnings()
    if 'mmcv.ops' in sys.modules or any(isinstance(f, _StandInFinder) for f in sys.meta_path):
        return False
    sys.meta_path.insert(0, _StandInFinder())
    return True
