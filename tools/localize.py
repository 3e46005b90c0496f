#!/usr/bin/env python
"""Forgery maps for images, folders and globs (same as the ``dp-localize`` command).

Example: ``python tools/localize.py photos/ -o maps/``; see docs/localize.md.
"""
import sys

from dp_plugin.apis.localize_cli import main

if __name__ == '__main__':
    sys.exit(main())
