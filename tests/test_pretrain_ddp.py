"""Two CPU ranks (gloo) through the MMEngine Runner: identical queues and weights."""
import math
import os

import torch
import torch.multiprocessing as mp

from pretrain_synth import make_patch_set, tiny_runner_cfg

WORLD = 2


def _rank_main(rank: int, store: str, patches: str, work_dir: str) -> None:
    import torch.distributed as dist
    from mmengine.runner import Runner
    import dp_plugin  # noqa: F401
    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD))
    # mmengine 0.10.7's pytorch launcher calls torch.cuda.set_device: init gloo ourselves
    dist.init_process_group('gloo', init_method=f'file://{store}', rank=rank,
                            world_size=WORLD)
    cfg = tiny_runner_cfg(patches, work_dir, max_epochs=1, batch_size=8)
    cfg.model.queue_size = 4096
    cfg.launcher = 'pytorch'
    cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None)
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model.module
    torch.save(dict(queue=model.queue.state_dict(),
                    online={n: p.detach() for n, p in model.online.named_parameters()},
                    seen=len(runner.train_dataloader.dataset)),
               os.path.join(work_dir, f'rank{rank}.pt'))
    dist.destroy_process_group()


def test_two_rank_ddp_queues_identical(tmp_path):
    patches = make_patch_set(str(tmp_path / 'data'), n_real=1, n_gen=1, size=64)
    work_dir = str(tmp_path / 'work')
    os.makedirs(work_dir)
    # fork: the ranks inherit the imported modules (spawn re-imports mmseg: 10 s each)
    mp.start_processes(_rank_main, args=(str(tmp_path / 'store'), patches, work_dir),
                       nprocs=WORLD, join=True, start_method='fork')
    s0, s1 = (torch.load(os.path.join(work_dir, f'rank{r}.pt'), weights_only=True)
              for r in range(WORLD))
    for name in ('feats', 'category', 'label', 'ptr'):
        assert torch.equal(s0['queue'][name], s1['queue'][name]), name
    for name in s0['online']:  # DDP-averaged gradients: identical weights
        assert torch.equal(s0['online'][name], s1['online'][name]), name
    # the queue was filled from the pool (4096 keys, pointer back at 0), then every rank
    # enqueued its pool key per sample, all gathered: the sampler pads the N anchors to
    # a multiple of 2, one epoch
    n = s0['seen']
    assert int(s0['queue']['ptr']) == (WORLD * math.ceil(n / WORLD)) % 4096
    assert bool((s0['queue']['category'] >= 0).all())
    assert set(s0['queue']['category'].tolist()) == {0, 1}
