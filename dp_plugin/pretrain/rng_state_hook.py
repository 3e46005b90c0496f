"""Save and restore the random generators with every checkpoint."""
import random
from typing import Optional

import numpy as np
import torch
from mmengine.hooks import Hook

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
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['rng_state'] = get_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if runner._resume and 'rng_state' in checkpoint:
            self._pending = checkpoint['rng_state']

    def before_train(self, runner) -> None:
        if self._pending is not None:
            set_rng_state(self._pending)
            self._pending = None
