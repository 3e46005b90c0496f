"""Console-script launchers that answer ``--help`` and usage errors at once.

``import dp_plugin`` registers every module in mmseg's registries (torch, mmseg, mmcv:
seconds). ``dp-localize`` therefore starts here, outside the package: the option parser
(:mod:`dp_plugin.apis.localize_args`, standard library only) is loaded from its file
without importing the package, the command line is checked, and only then is the
package imported to run it.
"""
import importlib.util
import os.path as osp
import sys
import time
from typing import Optional, Sequence


def _load_args_module():
    """``dp_plugin/apis/localize_args.py`` loaded by path (the package is located, not
    imported)."""
    spec = importlib.util.find_spec('dp_plugin')
    if spec is None or not spec.submodule_search_locations:
        raise ImportError('dp_plugin is not installed')
    path = osp.join(list(spec.submodule_search_locations)[0], 'apis', 'localize_args.py')
    module_spec = importlib.util.spec_from_file_location('_dp_localize_args', path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def localize(argv: Optional[Sequence[str]] = None) -> int:
    """``dp-localize``: parse, then import torch/mmseg and run; returns the exit status."""
    started = time.perf_counter()
    args = _load_args_module().parse_args(argv)
    from dp_plugin.apis.localize_cli import run
    return run(args, started)


if __name__ == '__main__':
    sys.exit(localize())
