"""Let MMEngine runner checkpoints load under ``torch.load`` with ``weights_only=True``.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True`` and MMEngine 0.10.7 does
not pass the argument, so resuming (``--resume``), ``load_from`` of a full runner
checkpoint and ``tools/test.py`` fail with ``Unsupported global: ... HistoryBuffer``.
The only non-tensor objects such a checkpoint holds come from the ``message_hub``:
``HistoryBuffer`` objects whose state holds numpy arrays and scalars, and references to
``HistoryBuffer``'s own statistics methods (pickled as ``getattr(HistoryBuffer, 'min')``).

:func:`allow_runner_checkpoints` allow-lists exactly those objects. It runs when
``dp_plugin.engine`` is imported (the first lookup in a dp_plugin registry does that,
e.g. any Runner with ``default_scope='dp_plugin'``) and before every read of
:func:`dp_plugin.utils.checkpoint_reader.read_weights`, so a process that only built a
modality reads runner checkpoints too. Weights-only loading stays on: any other global -- e.g. a
pickle whose ``__reduce__`` calls ``os.system`` -- is still refused. ``builtins.getattr``
is *not* allowed in general; the name resolves to :func:`history_buffer_getattr`, which
only returns public methods of ``HistoryBuffer``.
"""
import inspect
import pickle
from typing import Any, List

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

# numpy dtypes whose instances a runner checkpoint may hold (plain numbers only).
_NUMPY_SCALAR_TYPES = (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                       np.uint32, np.uint64, np.float16, np.float32, np.float64,
                       np.complex64, np.complex128)


def history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` restricted to the public methods of :class:`HistoryBuffer`.

    Stands in for ``builtins.getattr`` while unpickling weights-only checkpoints.
    """
    if (obj is HistoryBuffer and isinstance(name, str) and not name.startswith('_')
            and inspect.isfunction(inspect.getattr_static(HistoryBuffer, name, None))):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'weights-only load refused getattr({obj!r}, {name!r}): dp_plugin only allows '
        'public methods of mmengine HistoryBuffer')


def runner_checkpoint_globals() -> List[Any]:
    """The allow-list, in the form ``torch.serialization.add_safe_globals`` takes."""
    from numpy._core import multiarray
    safe: List[Any] = [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        multiarray._reconstruct,
        multiarray.scalar,
        # checkpoints written under numpy 1.x name the same functions numpy.core.*
        (multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
        (multiarray.scalar, 'numpy.core.multiarray.scalar'),
        (history_buffer_getattr, 'builtins.getattr'),
    ]
    # BUILD on an np.dtype instance needs its concrete class (e.g. Float64DType).
    safe += [type(np.dtype(t)) for t in _NUMPY_SCALAR_TYPES]
    return safe


def allow_runner_checkpoints() -> None:
    """Register :func:`runner_checkpoint_globals` with torch (idempotent)."""
    if HistoryBuffer not in torch.serialization.get_safe_globals():
        torch.serialization.add_safe_globals(runner_checkpoint_globals())
