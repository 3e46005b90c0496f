"""The project's own export format for a DnCNN backbone: safetensors + JSON metadata.

:func:`read_export_metadata` checks the metadata against the tensor shapes in the file
header (no tensor data is read) before anything is built from it: an export whose
metadata claims another architecture than its tensors hold (e.g. ``width=30000`` for a
64-wide DnCNN, which would allocate tens of GB) is refused with
:class:`ExportMetadataError`.
"""
import json
import math
from typing import Dict, List, Sequence

import torch
from safetensors import safe_open
from safetensors.torch import save

from dp_plugin.utils import atomic_write_bytes

FORMAT_NAME = 'dp_plugin.modality'
FORMAT_VERSION = 1
METADATA_KEY = 'dp_plugin'
_ARCH_KEYS = ('in_channels', 'out_channels', 'depth', 'width')
_BN_KEYS = ('weight', 'bias', 'running_mean', 'running_var')
#: Largest Gaussian input-filter sigma an export may record (kernel side 6 * sigma + 1).
_MAX_SIGMA = 100


class ExportMetadataError(ValueError):
    """A dp_plugin export whose metadata contradicts its tensors (or is malformed)."""


def save_modality_export(path: str, state_dict: Dict[str, torch.Tensor], meta: dict) -> None:
    """Atomically write ``state_dict`` (plain DnCNN keys) with ``meta`` to ``path``.

    ``meta`` follows docs/contracts.md; ``format`` and ``format_version`` are added.
    Metadata that contradicts the tensors raises :class:`ExportMetadataError`.
    """
    meta = dict(meta, format=FORMAT_NAME, format_version=FORMAT_VERSION)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    _checked_architecture(path, meta.get('architecture', {}),
                          {k: tuple(v.shape) for k, v in tensors.items()})
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
    with safe_open(path, framework='pt') as f:
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    meta['architecture'] = _checked_architecture(path, meta.get('architecture', {}), shapes)
    _check_number(path, meta, 'pixel_divisor', lambda v: v > 0, 'a positive number')
    if isinstance(meta.get('input_highpass'), dict):  # the authors' Gaussian filter
        spec = meta['input_highpass']
        if spec.get('type') != 'gaussian' or set(spec) - {'type', 'sigma'}:
            raise ExportMetadataError(f"{path}: metadata input_highpass={spec!r} must be "
                                      "dict(type='gaussian', sigma=...)")
        _check_number(path, spec, 'sigma', lambda v: 0 < v <= _MAX_SIGMA,
                      f'in (0, {_MAX_SIGMA}] (the blur kernel grows with it)')
    else:
        _check_number(path, meta, 'input_highpass', lambda v: 0 <= v < 0.5, 'in [0, 0.5) '
                      "or dict(type='gaussian', sigma=...)")
    return meta


def tensor_architecture(shapes: Dict[str, Sequence[int]]) -> dict:
    """``DnCNN`` kwargs implied by the tensor shapes of a plain-key DnCNN state_dict.

    Every convolution / BatchNorm tensor must be present with the shape the
    architecture implies. Raises ValueError naming the first inconsistency.
    """
    convs = sorted(int(k.split('.')[0]) for k, v in shapes.items()
                   if k.endswith('.weight') and k.split('.')[0].isdigit() and len(v) == 4)
    depth = len(convs)
    if depth < 2 or convs != [0] + [2 + 3 * i for i in range(depth - 1)]:
        raise ValueError(f'the tensors are not a DnCNN state_dict (convolutions at {convs[:8]})')
    width, in_channels = shapes['0.weight'][:2]
    out_channels = shapes[f'{convs[-1]}.weight'][0]
    expected: Dict[str, tuple] = {'0.weight': (width, in_channels, 3, 3), '0.bias': (width,),
                                  f'{convs[-1]}.weight': (out_channels, width, 3, 3),
                                  f'{convs[-1]}.bias': (out_channels,)}
    for index in convs[1:-1]:
        expected[f'{index}.weight'] = (width, width, 3, 3)
        expected.update({f'{index + 1}.{name}': (width,) for name in _BN_KEYS})
    wrong: List[str] = [f'{k} {tuple(shapes[k]) if k in shapes else "missing"} (expected {v})'
                        for k, v in expected.items() if tuple(shapes.get(k, ())) != v]
    if wrong:
        raise ValueError(f'the tensors are not a consistent DnCNN: {"; ".join(wrong[:3])}')
    return dict(in_channels=in_channels, out_channels=out_channels, depth=depth, width=width)


def _checked_architecture(path: str, claimed, shapes: Dict[str, tuple]) -> dict:
    """The metadata's ``architecture`` completed from the tensors; error on a mismatch."""
    if not isinstance(claimed, dict):
        raise ExportMetadataError(f'{path}: metadata "architecture" is {claimed!r}, not a dict')
    try:
        actual = tensor_architecture(shapes)
    except ValueError as exc:
        raise ExportMetadataError(f'{path}: not a valid dp_plugin export: {exc}') from None
    if claimed.get('type', 'DnCNN') != 'DnCNN':
        raise ExportMetadataError(f'{path}: metadata architecture type {claimed["type"]!r}, '
                                  "expected 'DnCNN'")
    wrong = [f'{k}={claimed[k]!r}' for k in _ARCH_KEYS
             if k in claimed and (type(claimed[k]) is not int or claimed[k] != actual[k])]
    if wrong:
        held = ', '.join(f'{k}={actual[k]}' for k in _ARCH_KEYS)
        raise ExportMetadataError(f'{path}: metadata claims {", ".join(wrong)}, but the '
                                  f'tensors hold a DnCNN with {held}; refusing the '
                                  'inconsistent export')
    return dict(claimed, type='DnCNN', **actual)


def _check_number(path: str, meta: dict, key: str, ok, what: str) -> None:
    value = meta.get(key)
    if value is None:
        return
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or not ok(value)):
        raise ExportMetadataError(f'{path}: metadata {key}={value!r} must be {what}')
