"""The project's own export format for a DnCNN backbone: safetensors + JSON metadata."""
import json
import os
import tempfile
from typing import Dict

import torch
from safetensors import safe_open
from safetensors.torch import save_file

FORMAT_NAME = 'dp_plugin.modality'
FORMAT_VERSION = 1
METADATA_KEY = 'dp_plugin'


def save_modality_export(path: str, state_dict: Dict[str, torch.Tensor], meta: dict) -> None:
    """Atomically write ``state_dict`` (plain DnCNN keys) with ``meta`` to ``path``.

    ``meta`` follows docs/contracts.md; ``format`` and ``format_version`` are added.
    """
    meta = dict(meta, format=FORMAT_NAME, format_version=FORMAT_VERSION)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-', suffix='.safetensors')
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={METADATA_KEY: json.dumps(meta, sort_keys=True)})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_export_metadata(path: str) -> dict:
    """Return the JSON metadata of an export; ValueError if it is not one."""
    try:
        with safe_open(path, framework='pt') as f:
            raw = (f.metadata() or {}).get(METADATA_KEY)
    except Exception as exc:  # noqa: BLE001  (SafetensorError, OSError, ...)
        raise ValueError(f'{path}: not a readable safetensors file ({exc}); expected a '
                         f'dp_plugin export ({FORMAT_NAME})') from exc
    if raw is None:
        raise ValueError(f'{path}: a safetensors file without "{METADATA_KEY}" metadata; '
                         f'expected a dp_plugin export ({FORMAT_NAME})')
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f'{path}: "{METADATA_KEY}" metadata is not valid JSON ({exc})') from exc
    if not isinstance(meta, dict) or meta.get('format') != FORMAT_NAME:
        found = meta.get('format') if isinstance(meta, dict) else meta
        raise ValueError(f'{path}: metadata format {found!r}, expected {FORMAT_NAME!r}')
    return meta
