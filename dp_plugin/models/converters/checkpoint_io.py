"""Safe reading and atomic writing of ``.pth`` checkpoints for the converters."""
import io
import os
import sys

import torch

from dp_plugin.utils import atomic_write_bytes


def load_weights_only(path: str, hint: str = ''):
    """``torch.load(path, weights_only=True)``; exits with a message naming ``path`` on failure."""
    if not os.path.isfile(path):
        sys.exit(f'error: {path}: no such file')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # noqa: BLE001 - report any unpickling refusal clearly
        sys.exit(f'error: {path}: cannot be read as a weights-only checkpoint ({exc}).{hint}')


def save_checkpoint_atomic(obj, path: str) -> None:
    """``torch.save`` to ``path`` through a temporary file and ``os.replace`` (never partial)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())
