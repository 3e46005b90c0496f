"""Input discovery of ``dp-localize``: files, folders and globs -> ``(path, rel)`` pairs.

Guarantees (``docs/localize.md``, "Guarantees"):

* ``rel`` (the output name, relative to ``-o``) never leaves the output folder: it is
  relative to the common folder of every input root *and* every file found, after
  normalisation, so ``in/*/../../x.png`` cannot write outside ``-o``;
* nothing under the output folder that ``dp-localize`` wrote (``*.mask.png``,
  ``*.overlay.png``) is taken as input, even when ``-o`` is an input folder or inside one;
  an output folder inside an input folder is not scanned at all;
* a glob that matches nothing is reported and adds no root (other outputs keep their
  place);
* names that are not valid UTF-8 are kept as the file system gives them (Python's
  ``surrogateescape``); :func:`display_name` is the printable form for reports.
"""
import glob
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

from .image_io import IMAGE_EXTENSIONS

#: Name endings of the image-like outputs ``dp-localize`` writes next to each other.
OUTPUT_IMAGE_SUFFIXES = ('.mask.png', '.overlay.png')

Problem = Tuple[str, str, str]  # (path, status 'error' | 'skipped', message)


def display_name(path: str) -> str:
    """``path`` printable as UTF-8: undecodable bytes shown as ``\\xNN``."""
    return os.fsencode(path).decode('utf-8', 'backslashreplace')


def _has_magic(pattern: str) -> bool:
    return any(c in pattern for c in '*?[')


def _inside(path: str, folder: Optional[str]) -> bool:
    return folder is not None and (path == folder or path.startswith(folder + os.sep))


def _is_own_output(path: str, out_dir: Optional[str]) -> bool:
    """An image-like file this tool wrote into ``out_dir`` (real paths)."""
    return (_inside(osp.realpath(path), out_dir)
            and osp.basename(path).lower().endswith(OUTPUT_IMAGE_SUFFIXES))


def _scan_folder(folder: str, out_dir: Optional[str], problems: List[Problem]) -> List[str]:
    """Image files under ``folder`` (sorted; hidden entries, folder loops, the output
    folder when it is a sub-folder and this tool's outputs skipped)."""
    found, seen = [], set()
    top = osp.realpath(folder)

    def walk(path: str) -> None:
        try:
            st = os.stat(path)
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            problems.append((path, 'error', f'cannot read folder: {exc.strerror or exc}'))
            return
        if (st.st_dev, st.st_ino) in seen:
            problems.append((path, 'skipped', 'symbolic link loop: folder already visited'))
            return
        seen.add((st.st_dev, st.st_ino))
        for entry in entries:
            if entry.name.startswith('.'):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                real = osp.realpath(entry.path)
                if real == out_dir and real != top:
                    continue  # the output folder inside an input folder
                walk(entry.path)
            elif (osp.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS
                  and not _is_own_output(entry.path, out_dir)):
                found.append(entry.path)

    walk(folder)
    return found


def _glob_root(pattern: str) -> str:
    """The folder part of ``pattern`` before its first wildcard."""
    prefix = []
    for part in pattern.split(os.sep):
        if _has_magic(part):
            break
        prefix.append(part)
    return os.sep.join(prefix) or (os.sep if pattern.startswith(os.sep) else '.')


def collect_inputs(inputs: Sequence[str], out_dir: Optional[str] = None
                   ) -> Tuple[List[Tuple[str, str]], List[Problem]]:
    """Resolve files, folders and globs.

    Args:
        inputs: Command-line inputs.
        out_dir: The output folder (see the module docstring for what is excluded).

    Returns:
        ``(items, problems)``: ``items`` are ``(path, rel)`` with ``rel`` relative to
        the common folder of all inputs (never starting with ``..``); ``problems`` are
        ``(path, status, message)`` for inputs that are not images to process.
    """
    out_dir = osp.realpath(out_dir) if out_dir else None
    files, roots, problems = [], [], []
    for arg in inputs:
        if osp.isdir(arg):
            roots.append(arg)
            files += _scan_folder(arg, out_dir, problems)
        elif osp.lexists(arg):
            roots.append(osp.dirname(arg) or '.')
            files.append(arg)
        elif _has_magic(arg):
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                problems.append((arg, 'error', 'the pattern matches no file'))
                continue
            root = _glob_root(arg)
            roots.append(root)
            real_root = osp.realpath(root)
            out_below = out_dir is not None and out_dir != real_root and _inside(out_dir, real_root)
            for match in matches:
                if osp.isdir(match):
                    files += _scan_folder(match, out_dir, problems)
                elif not (_is_own_output(match, out_dir)
                          or out_below and _inside(osp.realpath(match), out_dir)):
                    files.append(match)
        else:
            problems.append((arg, 'error', 'no such file or folder'))
    unique, seen = [], set()
    for path in files:
        absolute = osp.abspath(path)
        if absolute not in seen:
            seen.add(absolute)
            unique.append((path, absolute))
    anchors = [osp.abspath(r) for r in roots] + [osp.dirname(a) for _, a in unique]
    base = osp.commonpath(anchors) if anchors else os.getcwd()
    return [(path, osp.relpath(absolute, base)) for path, absolute in unique], problems
