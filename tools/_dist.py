"""CPU-aware distributed setup shared by tools/train.py and tools/test.py."""
import os

import torch
import torch.distributed as dist
from mmengine.config import Config


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
