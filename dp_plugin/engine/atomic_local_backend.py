"""A local file backend whose writes are atomic (temp file + ``os.replace``).

mmengine's ``LocalBackend.put`` opens the checkpoint with ``'wb'`` and writes into it,
so a run killed mid-save leaves a truncated ``epoch_N.pth``. :class:`AtomicCheckpointHook`
(every config of this project) saves through this backend by default; any other hook
can use it with ``backend_args=dict(backend='atomic_local')``.
"""
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

from dp_plugin.utils import atomic_write_bytes


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` with ``put``/``put_text`` that never leave a partial file."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write_bytes(filepath, obj)

    def put_text(self, obj: str, filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        self.put(obj.encode(encoding), filepath)
