"""Registries of dp_plugin.

Every registry is a child (scope ``dp_plugin``) of the MMSegmentation registry of the same
name, so configs with ``default_scope = 'dp_plugin'`` find this project's modules first,
then mmseg's and mmengine's. ``locations`` are the packages that register into a registry:
its first lookup imports them.

Two kinds of children:

* the five the project registers into: ``MODELS`` (models, losses, modalities and the
  pretrainer), ``DATASETS``, ``TRANSFORMS``, ``HOOKS`` and ``METRICS``;
* the nodes the MMEngine runner builds through under the ``dp_plugin`` scope (loops,
  samplers, optimizers and their wrappers, schedulers, visualizer, model wrapper under DDP).
  Without a ``dp_plugin`` node mmengine warns and falls back to its root registry, which
  does not hold mmseg's types (``SegLocalVisualizer``, ...).

Registration is lazy: importing this module (or ``dp_plugin``) registers nothing. The
first lookup in any of these registries (``build``, ``get``, ``in``; mmengine makes one
whenever a config with ``default_scope = 'dp_plugin'`` is built) registers every mmseg
module and every dp_plugin module, so each module is found wherever it lives.
"""
from importlib import import_module

from mmengine.registry import Registry
from mmseg.registry import DATA_SAMPLERS as MMSEG_DATA_SAMPLERS
from mmseg.registry import DATASETS as MMSEG_DATASETS
from mmseg.registry import HOOKS as MMSEG_HOOKS
from mmseg.registry import LOOPS as MMSEG_LOOPS
from mmseg.registry import METRICS as MMSEG_METRICS
from mmseg.registry import MODEL_WRAPPERS as MMSEG_MODEL_WRAPPERS
from mmseg.registry import MODELS as MMSEG_MODELS
from mmseg.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMSEG_OPTIM_WRAPPER_CONSTRUCTORS
from mmseg.registry import OPTIM_WRAPPERS as MMSEG_OPTIM_WRAPPERS
from mmseg.registry import OPTIMIZERS as MMSEG_OPTIMIZERS
from mmseg.registry import PARAM_SCHEDULERS as MMSEG_PARAM_SCHEDULERS
from mmseg.registry import TRANSFORMS as MMSEG_TRANSFORMS
from mmseg.registry import VISBACKENDS as MMSEG_VISBACKENDS
from mmseg.registry import VISUALIZERS as MMSEG_VISUALIZERS
_SCOPE = 'dp_plugin'
#: dp_plugin packages whose modules register themselves (imported on the first lookup).
_REGISTERING_PACKAGES = ('engine', 'datasets', 'transforms', 'evaluation', 'modalities',
                         'models', 'pretrain')
_registered = False


def register_all_modules() -> None:
    """Register every mmseg and dp_plugin module (once; the first lookup calls it).

    Child registries look modules up in their parents' tables without importing the
    parents' locations, so mmseg's own modules are registered here as well.
    """
    global _registered
    if _registered:
        return
    _registered = True
    from mmseg.utils import register_all_modules as register_mmseg
    register_mmseg(init_default_scope=False)
    import_module('mmseg.visualization')  # not covered by mmseg's register_all_modules
    for name in _REGISTERING_PACKAGES:
        import_module(f'{__package__}.{name}')


class _LazyRegistry(Registry):
    """A registry that calls :func:`register_all_modules` before its first lookup."""

    def import_from_location(self) -> None:
        if not self._imported:
            register_all_modules()
        super().import_from_location()


def _child(name: str, parent: Registry, *locations: str) -> Registry:
    return _LazyRegistry(name, parent=parent, scope=_SCOPE, locations=list(locations))


# Registries the project registers into.
MODELS = _child('model', MMSEG_MODELS, 'dp_plugin.models', 'dp_plugin.modalities',
                'dp_plugin.pretrain')
DATASETS = _child('dataset', MMSEG_DATASETS, 'dp_plugin.datasets', 'dp_plugin.pretrain')
TRANSFORMS = _child('transform', MMSEG_TRANSFORMS, 'dp_plugin.transforms')
HOOKS = _child('hook', MMSEG_HOOKS, 'dp_plugin.engine', 'dp_plugin.evaluation',
               'dp_plugin.pretrain')
METRICS = _child('metric', MMSEG_METRICS, 'dp_plugin.evaluation')

#: Forensic signal extractors, ``(B, 3, H, W)`` RGB in [0, 1] -> ``(B, C, H, W)``, are
#: registered once, in ``MODELS`` (so any model config can nest one);
#: :func:`dp_plugin.build_modality` builds from it and checks the type.
MODALITIES = MODELS

# Scope nodes for what the runner builds from mmengine / mmseg under ``dp_plugin``.
LOOPS = _child('loop', MMSEG_LOOPS)
DATA_SAMPLERS = _child('data sampler', MMSEG_DATA_SAMPLERS)
MODEL_WRAPPERS = _child('model_wrapper', MMSEG_MODEL_WRAPPERS)
OPTIMIZERS = _child('optimizer', MMSEG_OPTIMIZERS)
OPTIM_WRAPPERS = _child('optim_wrapper', MMSEG_OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor',
                                    MMSEG_OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _child('parameter scheduler', MMSEG_PARAM_SCHEDULERS)
VISUALIZERS = _child('visualizer', MMSEG_VISUALIZERS)
VISBACKENDS = _child('vis_backend', MMSEG_VISBACKENDS)
