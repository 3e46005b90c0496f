"""Test a checkpoint (same arguments as mmseg's tools/test.py).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out per_image.json]
                         [--show-dir DIR] [--cfg-options k=v ...] [--launcher none|pytorch]

Prints the generator x mask-type F1 table of ``ForgeryLocalizationMetric`` and writes
its per-image JSON (default ``WORK_DIR/per_image.json``); ``--show-dir`` saves
``[image | GT | heat map]`` overlays.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, ConfigDict, DictAction
from mmengine.runner import Runner

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _dist import setup_launcher  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the directory to save the log and results')
    parser.add_argument('--out', help='per-image JSON file (default WORK_DIR/per_image.json)')
    parser.add_argument('--show-dir', help='directory for heat-map overlays')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, key=value (xxx=yyy format)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def _set_out_file(evaluator, out_file: str) -> None:
    metrics = evaluator if isinstance(evaluator, list) else [evaluator]
    for metric in metrics:
        if isinstance(metric, dict) and metric.get('type') in (
                'ForgeryLocalizationMetric', 'dp_plugin.ForgeryLocalizationMetric'):
            metric['out_file'] = out_file


def main() -> None:
    args = parse_args()
    for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            raise SystemExit(f'{what} file not found: {path}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    setup_launcher(cfg, args.launcher)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    cfg.resume = False
    _set_out_file(cfg.test_evaluator, args.out or osp.join(cfg.work_dir, 'per_image.json'))
    if args.show_dir:
        hooks = list(cfg.get('custom_hooks', []))
        hooks.append(ConfigDict(type='ForgeryHeatmapHook', out_dir=args.show_dir))
        cfg.custom_hooks = hooks
    runner = Runner.from_cfg(cfg)
    runner.test()


if __name__ == '__main__':
    main()
