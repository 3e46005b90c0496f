"""Configs and tools shipped with dp_plugin, found the same way in a wheel and in a clone.

A wheel carries the repository's ``configs/`` and ``tools/`` under ``dp_plugin/.mim/``, as
OpenMMLab packages do (``mim train dp_plugin CONFIG`` finds them there); in a clone or an
editable install they are the repository's own folders. Only ``os`` is imported.
"""
import os.path as osp

_PACKAGE = osp.dirname(osp.dirname(osp.abspath(__file__)))
PREFIX = 'dp_plugin::'


def _folder(kind: str) -> str:
    installed = osp.join(_PACKAGE, '.mim', kind)
    return installed if osp.isdir(installed) else osp.join(osp.dirname(_PACKAGE), kind)


def config_path(name: str) -> str:
    """Absolute path of a packaged config, e.g.
    ``config_path('lite_baseline/lite-baseline_mit-b0-tiny_srm_sim-128x128.py')``;
    a ``dp_plugin::`` prefix (mmengine's package-path style) is accepted."""
    return _find('configs', name[len(PREFIX):] if name.startswith(PREFIX) else name)


def tool_path(name: str) -> str:
    """Absolute path of a packaged tool script, e.g. ``tool_path('train.py')``."""
    return _find('tools', name)


def _find(kind: str, name: str) -> str:
    root = _folder(kind)
    path = osp.normpath(osp.join(root, name))
    if osp.commonpath([root, path]) != root or not osp.isfile(path):
        raise FileNotFoundError(f'dp_plugin ships no {kind[:-1]} {name!r} (looked in {root})')
    return path
