"""``dp_plugin.adapters``: patches that plug dp_plugin modalities into upstream TruFor /
MMFusion objects.

The code lives in the repository's top-level ``adapters/`` folder. A wheel installs that
folder as this package (``package_dir`` in setup.py); in a clone or an editable install
this file points the package's search path at it, so ``from dp_plugin.adapters import
trufor`` works everywhere and no top-level ``adapters`` package is ever installed.
"""
import os.path as osp

__path__ = [osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'adapters')]
