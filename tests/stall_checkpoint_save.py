"""Test helper imported into a training run (``custom_imports``): the save of the
checkpoint named ``$DP_TEST_STALL_AT`` writes half its bytes into the atomic backend's
temporary file, creates ``$DP_TEST_STALL_READY`` and sleeps, so that a test can kill -9
the process in the middle of that save."""
import os
import os.path as osp
import time

import fast_runner  # noqa: F401
from dp_plugin.engine.atomic_local_backend import AtomicLocalBackend
from dp_plugin.utils import atomic_write

_put = AtomicLocalBackend.put


def _stalling_put(self, obj: bytes, filepath) -> None:
    if osp.basename(str(filepath)) != os.environ.get('DP_TEST_STALL_AT'):
        return _put(self, obj, filepath)
    with atomic_write(str(filepath)) as fh:
        fh.write(obj[:len(obj) // 2])
        fh.flush()
        with open(os.environ['DP_TEST_STALL_READY'], 'w'):
            pass
        time.sleep(600)


AtomicLocalBackend.put = _stalling_put
