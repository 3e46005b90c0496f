"""A ``CheckpointHook`` that a kill at any moment leaves resumable (used by every config).

mmengine 0.10.7's ``CheckpointHook`` writes checkpoints with ``LocalBackend`` (``'wb'``
into the final name), writes ``last_checkpoint`` with a plain ``open('w')``, and deletes
the outdated checkpoint (``max_keep_ckpts``) and the previous best *before* writing the
new one; ``--resume`` then trusts ``last_checkpoint`` blindly.
"""
import os.path as osp
from typing import Any, List, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.logging import print_log

from dp_plugin.registry import HOOKS
from dp_plugin.utils import atomic_write_bytes, remove_stale_temp_files
from . import atomic_local_backend  # noqa: F401  (registers the 'atomic_local' backend)
from .resume import find_resume_checkpoint


class _RemovalsDeferred:
    """A file backend whose ``remove``/``rmtree`` are only recorded (run them later)."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend
        self.pending: List[str] = []

    def remove(self, path: str) -> None:
        self.pending.append(path)

    def rmtree(self, path: str) -> None:
        self.pending.append(path)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` with crash-safe saving and resuming.

    - Checkpoints go through the ``atomic_local`` backend (temp file + ``os.replace``)
      unless ``backend_args``/``file_client_args`` choose another one.
    - ``work_dir/last_checkpoint`` is written atomically, after its checkpoint is
      complete; outdated checkpoints (``max_keep_ckpts``) and the previous best one are
      removed only after that, so a complete checkpoint always exists.
    - Before the run, temporary files of killed writers are swept from the work and
      checkpoint folders (those of live processes are kept), and with ``resume=True``
      (no ``load_from``) the run continues from the checkpoint
      :func:`~dp_plugin.engine.resume.find_resume_checkpoint` picks: the one
      ``last_checkpoint`` names when complete, else the newest complete one, with a
      warning.

    Args: those of :class:`mmengine.hooks.CheckpointHook`.
    """

    def __init__(self, *args, backend_args: Optional[dict] = None,
                 file_client_args: Optional[dict] = None, **kwargs) -> None:
        if backend_args is None and file_client_args is None:
            backend_args = dict(backend='atomic_local')
        super().__init__(*args, backend_args=backend_args, file_client_args=file_client_args,
                         **kwargs)

    def _checkpoint_dir(self, runner) -> str:
        """The folder ``before_train`` will resolve ``out_dir`` to."""
        if self.out_dir is None or self.out_dir == runner.work_dir:
            return runner.work_dir
        return osp.join(self.out_dir, osp.basename(runner.work_dir.rstrip(osp.sep)))

    def before_run(self, runner) -> None:
        ckpt_dir = self._checkpoint_dir(runner)
        if is_main_process():
            removed = sum(remove_stale_temp_files(folder)
                          for folder in dict.fromkeys([runner.work_dir, ckpt_dir])
                          if osp.isdir(folder))
            if removed:
                print_log(f'removed {removed} temporary file(s) of killed writers',
                          logger='current')
        if runner._resume and runner._load_from is None and not runner._has_loaded:
            path, warnings = find_resume_checkpoint(runner.work_dir, ckpt_dir,
                                                    self.filename_tmpl)
            for message in warnings:
                print_log(f'--resume: {message}', logger='current', level=30)  # WARNING
            if path is None:
                runner._resume = False  # nothing to resume: mmengine must not read the record
            else:
                runner._load_from = path

    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:
        outdated = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))
        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir, ckpt_filename, self.file_client_args,
            save_optimizer=self.save_optimizer, save_param_scheduler=self.save_param_scheduler,
            meta=meta, by_epoch=self.by_epoch, backend_args=self.backend_args, **self.args)
        if not is_main_process():
            return
        atomic_write_bytes(osp.join(runner.work_dir, 'last_checkpoint'),
                           str(self.last_ckpt).encode('utf-8'))
        if outdated is not None:
            self._remove(self.file_backend.join_path(self.out_dir,
                                                     self.filename_tmpl.format(outdated)))

    def _save_best_checkpoint(self, runner, metrics: dict) -> None:
        backend = self.file_backend
        self.file_backend = deferred = _RemovalsDeferred(backend)
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            self.file_backend = backend
        current = {self.last_ckpt, getattr(self, 'best_ckpt_path', None),
                   *getattr(self, 'best_ckpt_path_dict', {}).values()}
        for path in deferred.pending:
            if path not in current:
                self._remove(path)

    def _remove(self, path: str) -> None:
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # checkpoints saved by deepspeed are folders
            self.file_backend.rmtree(path)
