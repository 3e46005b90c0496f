"""Save and restore the random generators with every checkpoint."""
import random
from typing import Optional

import numpy as np
import torch
from mmengine import dist
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner.utils import set_random_seed

from dp_plugin.registry import HOOKS


def get_rng_state() -> dict:
    """Python, NumPy, torch (and CUDA) generator states as tensors and plain types."""
    np_state = np.random.get_state()
    state = dict(python=random.getstate(),
                 numpy=dict(keys=torch.from_numpy(np_state[1].astype(np.int64)),
                            pos=int(np_state[2]), has_gauss=int(np_state[3]),
                            cached_gaussian=float(np_state[4])),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    py = state['python']
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state['numpy']
    np.random.set_state(('MT19937', n['keys'].numpy().astype(np.uint32), n['pos'],
                         n['has_gauss'], n['cached_gaussian']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Put the generator states in each checkpoint and restore them on resume.

    The states are restored at ``before_train`` (after the runner built the loops and
    loaded the checkpoint), so a resumed epoch-based run draws exactly the random
    numbers the uninterrupted run drew. Loading weights without ``resume`` leaves the
    generators alone.

    Under DDP every rank draws its own augmentations: at the start of a fresh run, rank
    ``r > 0`` reseeds its generators with ``seed + r`` (rank 0, hence a single-process
    run, keeps the Runner's seeding; mmengine's ``diff_rank_seed`` would also change the
    sampler's seed). The runner saves on rank 0 only, so the states of all ranks are
    gathered at the end of every epoch, before the checkpoint hook runs (this hook's
    priority is above it; nothing draws in between), and each rank gets its own back on
    resume. A checkpoint saved in the middle of an epoch under DDP, or resumed with
    another number of ranks, restores rank 0's state on every rank (with a warning): the
    run goes on, not bit for bit.
    """

    priority = 'LOW'  # before the checkpoint hook (VERY_LOW) at the end of an epoch

    def __init__(self) -> None:
        self._pending: Optional[dict] = None
        self._gathered: Optional[tuple] = None  # (iteration, [state of each rank])

    def after_train_epoch(self, runner) -> None:
        if dist.get_world_size() > 1:
            self._gathered = (runner.iter, dist.all_gather_object(get_rng_state()))

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if dist.get_world_size() == 1:
            checkpoint['rng_state'] = get_rng_state()
        elif self._gathered is not None and self._gathered[0] == runner.iter:
            checkpoint['rng_state'] = dict(per_rank=self._gathered[1])
        else:
            print_log('RNGStateHook: a checkpoint saved in the middle of an epoch under DDP '
                      "holds rank 0's generator states only", logger='current', level=30)
            checkpoint['rng_state'] = get_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not (runner._resume and 'rng_state' in checkpoint):
            return
        state = checkpoint['rng_state']
        if 'per_rank' in state:
            states, world = state['per_rank'], dist.get_world_size()
            if len(states) == world:
                state = states[dist.get_rank()]
            else:
                print_log(f'RNGStateHook: the checkpoint holds the generator states of '
                          f"{len(states)} ranks, this run has {world}: rank 0's states are "
                          'restored on every rank', logger='current', level=30)
                state = states[0]
        self._pending = state

    def before_train(self, runner) -> None:
        if self._pending is not None:
            set_rng_state(self._pending)
            self._pending = None
        elif not runner._resume and dist.get_rank() > 0:
            set_random_seed(runner.seed + dist.get_rank())
