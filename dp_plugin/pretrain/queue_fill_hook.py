"""Fill the pretraining queue from the hard-negative pool before the first step."""
from typing import Iterator, Tuple

import numpy as np
import torch
from mmengine import dist
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from dp_plugin.registry import HOOKS


@HOOKS.register_module()
class QueueFillHook(Hook):
    """Fill the whole queue with momentum-encoder keys of pool patches before training.

    As the authors' script does (paper §3.4-3.5: the queue holds pool patches): the
    first step already has ``topk`` cross-category negatives of both categories. The
    patches are a seeded permutation of the pool, repeated when the pool is smaller
    than the queue; each rank encodes its share and the keys are gathered, so every
    rank's queue is the same. No global random generator is used.

    On ``--resume`` the checkpoint's queue is kept (not refilled), so a resumed run
    continues exactly. A model without ``enqueue_pool`` is left alone; a patch set
    without a pool is an error unless the model enqueues its positive keys.

    Args:
        batch_size (int): Pool patches per forward and rank. Defaults to 256.
        seed (int): Seed of the pool permutation. Defaults to 0.
    """

    priority = 'NORMAL'

    def __init__(self, batch_size: int = 256, seed: int = 0) -> None:
        if batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self._restored = False

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if runner._resume:
            self._restored = True

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if self._restored:
            print_log('QueueFillHook: queue restored from the checkpoint, not refilled',
                      logger='current')
            return
        if not model.enqueue_pool:
            return
        dataset = runner.train_dataloader.dataset
        if dataset.pool.size == 0:
            if model.enqueue_positives:
                print_log('QueueFillHook: the patch set has no pool; the queue fills with '
                          'positive keys during training', logger='current', level=30)
                return
            raise ValueError(f'{dataset.index.data_file}: the patch set has no hard-negative '
                             f'pool (has_positive=False rows), so the queue would stay '
                             f'empty; rebuild it with tools/build_patches.py or set '
                             f'model.enqueue_positives=True')
        model.fill_queue(self._batches(dataset, model.queue.size))
        filled = model.queue.category
        counts = [int((filled == c).sum()) for c in (0, 1)]
        print_log(f'QueueFillHook: queue filled from the pool: {counts[0]} real, '
                  f'{counts[1]} generated keys', logger='current')

    def _batches(self, dataset, total: int) -> Iterator[Tuple[torch.Tensor, torch.Tensor,
                                                              torch.Tensor]]:
        """This rank's share of ``total`` pool positions, in equal numbers of batches."""
        n_pool = int(dataset.pool.size)
        perm = np.random.default_rng(self.seed).permutation(n_pool)
        order = np.resize(perm, total)  # repeats the permutation when the pool is small
        world, rank = dist.get_world_size(), dist.get_rank()
        step = self.batch_size * world
        for start in range(0, total, step):
            chunk = order[start:start + step]
            yield dataset.pool_patches(chunk[rank * self.batch_size:
                                             (rank + 1) * self.batch_size])
