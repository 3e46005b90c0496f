"""engine package of dp_plugin: runner-level helpers (hooks, checkpoint safety)."""
from .atomic_checkpoint_hook import AtomicCheckpointHook
from .atomic_local_backend import AtomicLocalBackend
from .resume import ResumeError, checkpoint_problem, find_resume_checkpoint
from dp_plugin.utils.safe_globals import allow_runner_checkpoints, history_buffer_getattr

allow_runner_checkpoints()

__all__ = ['AtomicCheckpointHook', 'AtomicLocalBackend', 'ResumeError', 'allow_runner_checkpoints',
           'checkpoint_problem', 'find_resume_checkpoint', 'history_buffer_getattr']
