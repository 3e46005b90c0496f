"""dp_plugin: DiffusionPrint as a drop-in forensic modality for OpenMMLab frameworks.

Importing the package (or ``custom_imports=dict(imports=['dp_plugin'])`` in a config)
registers every module of the project in children of MMSegmentation's registries
(scope ``dp_plugin``) and in :data:`dp_plugin.registry.MODALITIES`.
"""
from ._opencv_check import warn_if_several_opencv as _warn_if_several_opencv
from ._mmcv_ops_compat import install as _install_mmcv_ops_stand_in
from .utils.package_files import config_path

_warn_if_several_opencv()

_install_mmcv_ops_stand_in()  # must run before anything imports mmseg.models

from . import registry  # noqa: E402
from . import apis, datasets, engine, evaluation, modalities, models, pretrain, simulate, transforms  # noqa: E402,F401,E501
from .modalities import build_modality  # noqa: E402
from .version import __version__  # noqa: E402

__all__ = ['build_modality', 'config_path', 'registry', '__version__']
