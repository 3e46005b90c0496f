"""Train a segmentor from a config (same arguments as mmseg's tools/train.py).

    python tools/train.py CONFIG [--work-dir DIR] [--resume] [--amp]
                                 [--cfg-options k=v ...] [--launcher none|pytorch]

DDP: ``torchrun --nproc_per_node N tools/train.py CONFIG --launcher pytorch``
(works on CPU with gloo too). Checkpoints are written atomically and ``--resume``
skips torn ones (:class:`dp_plugin.engine.AtomicCheckpointHook`, docs/localization.md).
"""
import argparse
import logging
import os.path as osp
import sys

from mmengine.logging import print_log

from dp_plugin.engine import ResumeError

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _dist import add_common_args, build_runner, load_config  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='training config')
    parser.add_argument('--resume', action='store_true', default=False,
                        help='continue from the last complete checkpoint in the work dir '
                             '(a torn or empty one is skipped with a warning)')
    parser.add_argument('--amp', action='store_true', default=False,
                        help='train in mixed precision (AmpOptimWrapper, dynamic loss scale)')
    add_common_args(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_config(args)
    if args.amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper == 'AmpOptimWrapper':
            print_log('--amp: the config already uses AmpOptimWrapper', logger='current',
                      level=logging.WARNING)
        elif wrapper != 'OptimWrapper':
            raise SystemExit(f'--amp replaces OptimWrapper; the config uses {wrapper}')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    cfg.resume = args.resume or cfg.get('resume', False)
    ckpt_hook = cfg.get('default_hooks', {}).get('checkpoint')
    if ckpt_hook is not None and ckpt_hook.get('type') == 'CheckpointHook':
        ckpt_hook.type = 'AtomicCheckpointHook'  # same arguments; crash-safe saves/resume
    runner = build_runner(cfg)
    try:
        runner.train()
    except ResumeError as exc:
        raise SystemExit(f'error: {exc}') from None


if __name__ == '__main__':
    main()
