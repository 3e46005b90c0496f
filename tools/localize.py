#!/usr/bin/env python
"""Forgery maps for images, folders and globs (same as the ``dp-localize`` command).

Example: ``python tools/localize.py photos/ -o maps/``; see docs/localize.md.
"""
import os.path as osp
import runpy
import sys

if __name__ == '__main__':
    repo = osp.dirname(osp.dirname(osp.abspath(__file__)))
    launcher = osp.join(repo, 'bin', 'dp-localize')
    if osp.isfile(launcher):  # a clone: its package; options parsed before torch is imported
        sys.path.insert(0, repo)
        runpy.run_path(launcher, run_name='__main__')
    from dp_plugin.apis.localize_cli import main  # the copy under dp_plugin/.mim/tools
    sys.exit(main())
