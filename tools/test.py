"""Test a checkpoint (same arguments as mmseg's tools/test.py).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out per_image.json]
                         [--show-dir DIR] [--cfg-options k=v ...] [--launcher none|pytorch]

Prints the generator x mask-type F1 table of ``ForgeryLocalizationMetric`` and writes
its per-image JSON (default ``WORK_DIR/per_image.json``); ``--show-dir`` saves
``[image | GT | heat map]`` overlays.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import ConfigDict

from dp_plugin.apis.inference import load_state_dict_safely
from dp_plugin.utils.checkpoint_reader import CheckpointFormatError

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _dist import add_common_args, build_runner, load_config  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a segmentor')
    parser.add_argument('config', help='test config')
    parser.add_argument('checkpoint', help='checkpoint to evaluate')
    parser.add_argument('--out', help='per-image JSON file (default WORK_DIR/per_image.json)')
    parser.add_argument('--show-dir', help='directory for heat-map overlays')
    add_common_args(parser)
    return parser.parse_args()


def _set_out_file(evaluator, out_file: str) -> None:
    metrics = evaluator if isinstance(evaluator, list) else [evaluator]
    for metric in metrics:
        if isinstance(metric, dict) and metric.get('type') in (
                'ForgeryLocalizationMetric', 'dp_plugin.ForgeryLocalizationMetric'):
            metric['out_file'] = out_file


def main() -> None:
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint file not found: {args.checkpoint}')
    try:  # the project's weights-only reader, before mmengine's torch.load and its advice
        load_state_dict_safely(args.checkpoint)
    except CheckpointFormatError as exc:
        raise SystemExit(f'error: {exc}') from None
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    _set_out_file(cfg.test_evaluator, args.out or osp.join(cfg.work_dir, 'per_image.json'))
    if args.show_dir:
        hooks = list(cfg.get('custom_hooks', []))
        hooks.append(ConfigDict(type='ForgeryHeatmapHook', out_dir=args.show_dir))
        cfg.custom_hooks = hooks
    runner = build_runner(cfg)
    runner.test()


if __name__ == '__main__':
    main()
