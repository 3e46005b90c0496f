"""The project's own export format for a DnCNN backbone: safetensors + JSON metadata."""
import json
from typing import Dict

import torch
from safetensors import safe_open
from safetensors.torch import save

from dp_plugin.utils import atomic_write_bytes

FORMAT_NAME = 'dp_plugin.modality'
FORMAT_VERSION = 1
METADATA_KEY = 'dp_plugin'


def save_modality_export(path: str, state_dict: Dict[str, torch.Tensor], meta: dict) -> None:
    """Atomically write ``state_dict`` (plain DnCNN keys) with ``meta`` to ``path``.

    ``meta`` follows docs/contracts.md; ``format`` and ``format_version`` are added.
    """
    meta = dict(meta, format=FORMAT_NAME, format_version=FORMAT_VERSION)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    atomic_write_bytes(path, save(tensors, metadata={METADATA_KEY: json.dumps(meta, sort_keys=True)}))


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
