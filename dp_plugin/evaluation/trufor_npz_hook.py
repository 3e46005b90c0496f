"""Write TruFor-style ``.npz`` files during ``tools/test.py``."""
import os.path as osp
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.logging import print_log

from dp_plugin.registry import HOOKS
from .trufor_npz import trufor_npz_arrays, write_npz_atomic


@HOOKS.register_module()
class TruForNpzHook(Hook):
    """Save one upstream-compatible ``.npz`` per test image (see :mod:`.trufor_npz`).

    The file is ``{out_dir}/{image path relative to root}.npz`` (``img.png`` ->
    ``img.png.npz``, as upstream). A failing image is reported and skipped; files are
    written atomically.

    Args:
        out_dir (str, optional): Output folder. Defaults to ``{work_dir}/npz``.
        root (str, optional): Folder image paths are made relative to. Defaults to the
            test dataset's ``data_root``.
        save_modality (bool): Also store the 1-channel modality summary. Defaults to True.
    """

    priority = 'LOW'

    def __init__(self, out_dir: Optional[str] = None, root: Optional[str] = None,
                 save_modality: bool = True) -> None:
        self.out_dir = out_dir
        self.root = root
        self.save_modality = save_modality

    def before_test(self, runner) -> None:
        if self.out_dir is None:
            self.out_dir = osp.join(runner.work_dir, 'npz')
        if self.root is None:
            dataset = getattr(runner.test_dataloader, 'dataset', None)
            self.root = getattr(dataset, 'data_root', None)

    def target(self, img_path: str) -> str:
        """Output path of ``img_path``."""
        rel = osp.basename(img_path)
        if self.root:
            candidate = osp.relpath(osp.abspath(img_path), osp.abspath(self.root))
            if not candidate.startswith('..'):
                rel = candidate
        return osp.join(self.out_dir, rel + '.npz')

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        for i, sample in enumerate(outputs or []):
            path = sample.metainfo.get('img_path') or f'batch{batch_idx}_{i}.png'
            try:
                write_npz_atomic(self.target(path),
                                 trufor_npz_arrays(sample, self.save_modality))
            except (OSError, KeyError, ValueError) as exc:
                print_log(f'TruForNpzHook: {path}: {exc}; skipped', logger='current')

    def after_test(self, runner) -> None:
        print_log(f'TruForNpzHook: .npz files in {self.out_dir}', logger='current')
