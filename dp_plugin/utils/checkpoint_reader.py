"""The project's one reader of weight files: weights-only ``torch.load`` or safetensors.

Every loader of the project (modalities, :class:`~dp_plugin.apis.Localizer`, MiT weights,
the TruFor/MMFusion converters, the DnCNN export) reads files through :func:`read_weights`,
so one rule holds everywhere: only tensors, plain containers and the MMEngine runner
checkpoint objects allow-listed by :mod:`dp_plugin.utils.safe_globals` (registered
before every read) are unpickled; a pickle that needs any other global (e.g. one
whose ``__reduce__`` calls ``os.system``) is refused before anything in it runs. Every
problem raises :class:`CheckpointFormatError`, naming the file, what was expected and
what was found.

MMEngine's ``load_checkpoint`` is not used to read files: in mmengine 0.10.7 it calls
``torch.load`` without ``weights_only`` (safe only while torch's default holds, which the
environment variable ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` turns off) and reads no
safetensors.
"""
import os
import pickle
import struct
from typing import Any, Optional, Sequence, Tuple, Union

import torch

__all__ = ['CheckpointFormatError', 'read_weights', 'looks_like_safetensors']


class CheckpointFormatError(ValueError):
    """A weight file that cannot be loaded: unreadable, unsafe or of the wrong format.

    Args:
        filename: The file.
        found: What the file holds (or why it could not be read).
        expected: The formats the caller accepts, one string or several.
        what: What was being loaded, for the message (``'DnCNN weights'``, ...).
    """

    def __init__(self, filename: str, found: str,
                 expected: Union[str, Sequence[str]] = (), what: str = 'weights') -> None:
        expected = (expected,) if isinstance(expected, str) else tuple(expected)
        message = f'{filename}: cannot load {what}: {found}'
        if len(expected) == 1:
            message += f'; expected {expected[0]}'
        elif expected:
            message += '\nExpected one of:\n  - ' + '\n  - '.join(expected)
        super().__init__(message)
        self.filename = filename
        self.found = found
        self.expected = expected


def looks_like_safetensors(filename: str) -> bool:
    """Whether ``filename`` starts like a safetensors file (header length + JSON)."""
    with open(filename, 'rb') as f:
        head = f.read(9)
    if len(head) < 9:
        return False
    (header_len,) = struct.unpack('<Q', head[:8])
    return head[8:9] == b'{' and 0 < header_len <= os.path.getsize(filename) - 8


def _short_reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ('WeightsUnpickler error:', 'Unsupported global:', 'Trying to'):
        if marker in text:
            text = text[text.index(marker):]
            break
    text = text.split('Check the documentation of torch.load')[0]  # torch's advice, not the reason
    return ' '.join(text.split())[:300] or type(exc).__name__


def read_weights(filename: Union[str, os.PathLike],
                 expected: Union[str, Sequence[str]] = (), what: str = 'weights'
                 ) -> Tuple[Any, Optional[dict]]:
    """Load ``filename`` without running code from it.

    Returns ``(object, safetensors metadata)``: for a safetensors file (recognised by its
    header, whatever its name) the tensor dict and its string metadata (``{}`` if none);
    otherwise what weights-only ``torch.load`` returns and None.

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        CheckpointFormatError: an unreadable file or a pickle holding other objects
            than weights (``expected``/``what`` go into the message).
    """
    filename = os.fspath(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'{filename}: checkpoint not found (no such file)')
    if looks_like_safetensors(filename):
        from safetensors import safe_open
        try:
            with safe_open(filename, framework='pt', device='cpu') as f:
                meta = f.metadata() or {}
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as exc:  # noqa: BLE001  (safetensors raises several types)
            raise CheckpointFormatError(
                filename, f'an unreadable safetensors file ({_short_reason(exc)})',
                expected, what) from exc
        return tensors, meta
    from .safe_globals import allow_runner_checkpoints  # mmengine: imported when needed
    allow_runner_checkpoints()
    try:
        obj = torch.load(filename, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as exc:
        if 'GLOBAL' not in str(exc):  # no forbidden object: bytes that are no pickle at all
            raise CheckpointFormatError(
                filename, 'not a readable PyTorch checkpoint or safetensors file '
                f'({_short_reason(exc)})', expected, what) from None
        raise CheckpointFormatError(
            filename, 'refused to unpickle it: it holds Python objects other than weights '
            f'({_short_reason(exc)}); only weights are loaded (weights_only=True)',
            expected, what) from None
    except Exception as exc:  # noqa: BLE001  (corrupt zip / truncated pickle / garbage)
        raise CheckpointFormatError(
            filename, 'not a readable PyTorch checkpoint or safetensors file '
            f'({type(exc).__name__}: {_short_reason(exc)})', expected, what) from None
    return obj, None
