"""Choose the checkpoint ``--resume`` continues from, surviving torn or stale files.

mmengine's ``find_latest_checkpoint`` returns whatever ``work_dir/last_checkpoint``
holds: an empty or garbage file makes ``--resume`` fail, and a truncated checkpoint
has no fallback. :func:`find_resume_checkpoint` checks the named checkpoint and
otherwise falls back to the newest complete one in the checkpoint folder.
"""
import os
import os.path as osp
import re
import zipfile
from typing import List, Optional, Tuple


class ResumeError(RuntimeError):
    """Checkpoints exist but none of them can be resumed from."""


def checkpoint_problem(path: str) -> Optional[str]:
    """Why ``path`` is not a complete checkpoint, or None when it is one.

    ``torch.save`` writes a zip archive; its central directory is the last thing
    written and every member carries a CRC, so a truncated or damaged file is detected
    without unpickling anything (:func:`zipfile.ZipFile.testzip` reads the whole file).
    """
    if not osp.isfile(path):
        return 'missing'
    if osp.getsize(path) == 0:
        return 'empty (0 bytes)'
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        return f'truncated or not a checkpoint ({exc})'
    return None if damaged is None else f'damaged ({damaged} fails its CRC check)'


def _numbered(folder: str, filename_tmpl: str) -> List[Tuple[int, str]]:
    """``(step, path)`` of the files in ``folder`` named by ``filename_tmpl``, newest first."""
    pattern = re.compile('^' + re.escape(filename_tmpl).replace(r'\{\}', r'(\d+)') + '$')
    found = []
    for name in os.listdir(folder) if osp.isdir(folder) else []:
        match = pattern.match(name)
        if match:
            found.append((int(match.group(1)), osp.join(folder, name)))
    return sorted(found, reverse=True)


def find_resume_checkpoint(work_dir: str, ckpt_dir: str, filename_tmpl: str
                           ) -> Tuple[Optional[str], List[str]]:
    """The checkpoint to resume from, and warnings about what was skipped.

    ``work_dir/last_checkpoint`` wins when it names a complete checkpoint; otherwise
    (missing, empty, garbage, or naming a truncated file) the newest complete
    ``filename_tmpl`` checkpoint of ``ckpt_dir`` is used. Returns ``(None, warnings)``
    when there is nothing to resume from.

    Raises:
        ResumeError: checkpoints exist, but none is complete.
    """
    warnings: List[str] = []
    record = osp.join(work_dir, 'last_checkpoint')
    named = named_problem = None
    if not osp.isfile(record):
        warnings.append(f'{record} is missing')
    else:
        with open(record, 'rb') as f:
            raw = f.read(4096)
        try:
            named = raw.decode('utf-8').strip() or None
        except UnicodeDecodeError:
            named = None
        if named is None or '\n' in named or '\0' in named:
            warnings.append(f'{record} is empty or garbage ({raw[:40]!r})')
            named = None
    if named is not None:
        named_problem = checkpoint_problem(named)
        if named_problem is None:
            return named, warnings
        warnings.append(f'{record} names {named}, which is {named_problem}')
    folders = dict.fromkeys([ckpt_dir] + ([osp.dirname(named)] if named else []))
    candidates = sorted({c for folder in folders for c in _numbered(folder, filename_tmpl)},
                        reverse=True)
    refused = []
    for _, path in candidates:
        problem = named_problem if path == named else checkpoint_problem(path)
        if problem is None:
            skipped = (f' (skipped {"; ".join(refused)}: left in place, overwritten when '
                       'training reaches them)') if refused else ''
            warnings.append(f'resuming from {path}, the newest complete checkpoint{skipped}')
            return path, warnings
        refused.append(f'{osp.basename(path)}: {problem}')
    if refused:
        raise ResumeError(f'--resume: no complete checkpoint in {ckpt_dir} '
                          f'({"; ".join(refused)}); move them away to start afresh')
    if osp.isfile(record):
        warnings.append(f'no checkpoint to resume from in {ckpt_dir}: starting afresh')
        return None, warnings
    return None, []
