#!/usr/bin/env python
"""Forgery maps for images, folders and globs (same as the ``dp-localize`` command).

Example: ``python tools/localize.py photos/ -o maps/``; see docs/localize.md.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # the clone's launcher
from dp_plugin_cli import localize  # noqa: E402  (options parsed before torch is imported)

if __name__ == '__main__':
    sys.exit(localize())
