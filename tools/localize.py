#!/usr/bin/env python
"""Forgery maps for images, folders and globs (same as the ``dp-localize`` command).

Example: ``python tools/localize.py photos/ -o maps/``; see docs/localize.md.
"""
import os.path as osp
import sys

if __name__ == '__main__':
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    if osp.isfile(osp.join(repo, 'dp_plugin', '__init__.py')):
        sys.path.insert(0, repo)  # a clone: its own package (a wheel: the installed one)
    from dp_plugin.apis.localize_args import launch  # options parsed before torch loads
    sys.exit(launch())
