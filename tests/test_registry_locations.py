"""dp_plugin's registries: every class is found from a config's scope alone.

A config names ``default_scope = 'dp_plugin'``; mmengine then imports ``dp_plugin.registry``
and, on a registry's first lookup, the packages in its ``locations``. These tests check
that this is enough, in a fresh interpreter in which the package's ``__init__`` (which
today imports everything) does not run: only the registry module and the locations.
"""
import importlib
import json
import os.path as osp
import subprocess
import sys

import mmengine.registry
import pytest
from mmengine.registry import Registry

import dp_plugin
from dp_plugin import registry

PACKAGE_DIR = osp.dirname(osp.abspath(dp_plugin.__file__))

# In a bare ``dp_plugin`` package object (its __init__ does not run; mmcv-lite's stand-in for
# mmcv.ops is installed first, as the package's __init__ does), with the default scope a
# config sets: which registered names are not found, and which runner registries have no
# dp_plugin node.
_FRESH = '''
import json, sys, types
package = types.ModuleType('dp_plugin')
package.__path__ = [sys.argv[1]]
sys.modules['dp_plugin'] = package
from dp_plugin._mmcv_ops_compat import install
install()
import mmengine.registry as roots
from mmengine.registry import DefaultScope
DefaultScope.get_instance('fresh', scope_name='dp_plugin')
registered, runner_built = json.loads(sys.argv[2])
missing = []
for root_name, names in registered.items():
    with getattr(roots, root_name).switch_scope_and_registry(None) as found_in:
        missing += [f'{root_name}: {name}' for name in names if found_in.get(name) is None]
no_node = [name for name in runner_built
           if getattr(roots, name)._search_child('dp_plugin') is None]
print(json.dumps(dict(missing=missing, no_node=no_node)))
'''

#: What mmengine's Runner builds under the config's default scope (train, test, ``--amp``,
#: DDP's model wrapper).
RUNNER_BUILT = ['LOOPS', 'HOOKS', 'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS',
                'MODEL_WRAPPERS', 'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'OPTIMIZERS',
                'PARAM_SCHEDULERS', 'METRICS', 'VISUALIZERS', 'VISBACKENDS']


#: Every package of the project that registers modules.
PACKAGES = ('datasets', 'engine', 'evaluation', 'modalities', 'models', 'pretrain', 'transforms')


def _project_registrations() -> dict:
    """``{mmengine root registry name: [every class this project registered]}``, with the
    whole project imported."""
    for name in PACKAGES:
        importlib.import_module(f'dp_plugin.{name}')
    out = {}
    for attr in dir(registry):
        reg = getattr(registry, attr)
        if (isinstance(reg, Registry) and reg.scope == 'dp_plugin' and reg.module_dict
                and hasattr(mmengine.registry, attr)):  # MODALITIES: another name of MODELS
            out[attr] = sorted(name for name, cls in reg.module_dict.items()
                               if cls.__module__.startswith('dp_plugin.'))  # not tests' own
    return out


@pytest.fixture(scope='module')
def fresh():
    """One fresh interpreter (an mmseg import) for the tests below."""
    registered = _project_registrations()
    proc = subprocess.run([sys.executable, '-c', _FRESH, PACKAGE_DIR,
                           json.dumps([registered, RUNNER_BUILT])],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return registered, json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_registered_class_is_found_through_its_registry_locations(fresh):
    """E.g. ``ForgeryHeatmapHook`` (dp_plugin.evaluation) was missed: HOOKS looked in
    dp_plugin.engine and dp_plugin.pretrain only."""
    registered, result = fresh
    assert {'MODELS', 'DATASETS', 'TRANSFORMS', 'HOOKS', 'METRICS'} <= set(registered)
    assert 'DiffusionPrint' in registered['MODELS']
    assert 'ForgeryHeatmapHook' in registered['HOOKS']
    assert result['missing'] == []


def test_modalities_are_registered_once_and_build_from_any_model_config():
    """One table: ``build_modality`` and a nested ``MODELS`` config find the same class."""
    import torch

    from dp_plugin.modalities import BaseModality
    _project_registrations()
    modalities = [n for n, c in registry.MODELS.module_dict.items()
                  if isinstance(c, type) and issubclass(c, BaseModality)]
    assert sorted(modalities) == ['Bayar', 'DiffusionPrint', 'NoisePrintPP', 'SRM']
    assert registry.MODALITIES is registry.MODELS
    for name in modalities:
        assert type(dp_plugin.build_modality(dict(type=name))) is registry.MODELS.get(name)
    srm = registry.MODELS.build(dict(type='SRM'))
    assert srm(torch.rand(1, 3, 8, 8)).shape == (1, 3, 8, 8)


def test_runner_registries_have_a_dp_plugin_node(fresh):
    """Without a dp_plugin node mmengine logs "Failed to search registry with scope
    dp_plugin" and builds from its root registry, which lacks mmseg's types
    (``SegLocalVisualizer``, ``SegVisualizationHook``, ``PackSegInputs``); DDP's
    ``MMDistributedDataParallel`` went that way."""
    assert fresh[1]['no_node'] == []
