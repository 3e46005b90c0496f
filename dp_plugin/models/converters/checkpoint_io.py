"""Safe reading and atomic writing of ``.pth`` checkpoints for the converters."""
import io

import torch

from dp_plugin.utils import atomic_write_bytes
from dp_plugin.utils.checkpoint_reader import read_weights

#: The default ``expected`` of :func:`load_weights_only`.
CONVERTER_FORMAT = 'a torch.save checkpoint of tensors and plain containers (weights_only=True)'


def load_weights_only(path: str, expected: str = CONVERTER_FORMAT):
    """:func:`~dp_plugin.utils.checkpoint_reader.read_weights` of a checkpoint to convert.

    Raises ``FileNotFoundError`` or :class:`CheckpointFormatError` (one line naming
    ``path``, ``expected`` and what was found); the converter CLIs print it and exit.
    """
    return read_weights(path, expected, 'a checkpoint to convert')[0]


def save_checkpoint_atomic(obj, path: str) -> None:
    """``torch.save`` to ``path`` through a temporary file and ``os.replace`` (never partial)."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())
