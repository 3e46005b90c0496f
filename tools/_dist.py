"""Launcher code shared by tools/train.py and tools/test.py: common arguments, config
loading, runner building and a CPU-aware distributed setup."""
import argparse
import os
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.config import Config, DictAction


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--work-dir``, ``--cfg-options``, ``--launcher`` and ``--local-rank``."""
    parser.add_argument('--work-dir', help='folder for logs, checkpoints and outputs '
                        '(default work_dirs/CONFIG_NAME)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='config overrides as key=value pairs, e.g. train_cfg.max_iters=10')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='how the processes were started')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args: argparse.Namespace) -> Config:
    """Read ``args.config``, apply the overrides, set up the launcher and the work dir."""
    if not osp.isfile(args.config):
        raise SystemExit(f'config file not found: {args.config}')
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(args.config)
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    setup_launcher(cfg, args.launcher)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


#: What a config mistake raises while the Runner builds its parts: an unknown ``type``
#: (KeyError), an unknown or moved argument (TypeError / ValueError), a missing data or
#: weight file (FileNotFoundError).
CONFIG_ERRORS = (KeyError, TypeError, ValueError, FileNotFoundError)


def build_runner(cfg: Config):
    """The Runner of ``cfg``; a config mistake exits with one line instead of a traceback
    (``DP_PLUGIN_TRACEBACK=1`` in the environment shows the traceback)."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    try:
        return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    except CONFIG_ERRORS as exc:
        if os.environ.get('DP_PLUGIN_TRACEBACK') == '1':
            raise
        text = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise SystemExit(f'error: {type(exc).__name__}: {text} '
                         '(DP_PLUGIN_TRACEBACK=1 shows the traceback)') from None


def setup_launcher(cfg: Config, launcher: str) -> None:
    """Set ``cfg.launcher``; on a machine without CUDA, start gloo DDP ourselves.

    MMEngine 0.10.7's ``pytorch`` launcher calls ``torch.cuda.set_device`` and wraps
    the model with ``device_ids=[LOCAL_RANK]``; both fail for CPU processes. We
    initialise the gloo process group from torchrun's environment (the Runner then
    skips its own init) and wrap with ``device_ids=None``.
    """
    cfg.launcher = launcher
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise RuntimeError(f'--launcher {launcher} needs CUDA; on CPU use '
                           '"torchrun --nproc_per_node N tools/train.py ... --launcher pytorch"')
    if 'RANK' not in os.environ:
        raise RuntimeError('--launcher pytorch expects torchrun environment variables '
                           '(RANK, WORLD_SIZE, MASTER_ADDR, ...): start with torchrun')
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None,
                                     broadcast_buffers=False,
                                     find_unused_parameters=cfg.get('find_unused_parameters', False))
    else:  # the config's wrapper (e.g. pretrain_runtime's): keep it, but CPU modules
        cfg.model_wrapper_cfg.setdefault('device_ids', None)  # take no device ids
