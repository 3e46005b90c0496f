"""Kept for imports: the ``atomic_local`` backend lives in
:mod:`dp_plugin.engine.atomic_local_backend` (shared by pretraining and localization)."""
from dp_plugin.engine.atomic_local_backend import AtomicLocalBackend

__all__ = ['AtomicLocalBackend']
