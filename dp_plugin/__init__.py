"""dp_plugin: DiffusionPrint as a drop-in forensic modality for OpenMMLab frameworks.

Importing the package is light (no torch, no mmseg): subpackages load on first use
(``dp_plugin.models``, ``from dp_plugin import build_modality``). With
``custom_imports=dict(imports=['dp_plugin'])`` and ``default_scope='dp_plugin'`` in a
config, the first registry lookup registers every module of the project in children of
MMSegmentation's registries (scope ``dp_plugin``; see :mod:`dp_plugin.registry`).
"""
import importlib

from ._opencv_check import warn_if_several_opencv as _warn_if_several_opencv
from ._mmcv_ops_compat import install as _install_mmcv_ops_stand_in
from .utils.package_files import config_path
from .version import __version__

_warn_if_several_opencv()

_install_mmcv_ops_stand_in()  # an import hook: acts when something imports mmcv.ops

_SUBPACKAGES = ('adapters', 'apis', 'datasets', 'engine', 'evaluation', 'modalities',
                'models', 'pretrain', 'registry', 'simulate', 'transforms', 'utils')

__all__ = ['build_modality', 'config_path', 'registry', '__version__']


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f'.{name}', __name__)
    if name == 'build_modality':
        from .modalities import build_modality
        return build_modality
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
