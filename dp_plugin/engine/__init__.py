"""engine package of dp_plugin: runner-level helpers (hooks, checkpoint safety)."""
from .safe_globals import allow_runner_checkpoints, history_buffer_getattr

allow_runner_checkpoints()

__all__ = ['allow_runner_checkpoints', 'history_buffer_getattr']
