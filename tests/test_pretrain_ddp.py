"""Two CPU ranks (gloo) through the MMEngine Runner: identical queues and weights."""
import math
import os

import torch
import torch.multiprocessing as mp

from pretrain_synth import make_patch_set, tiny_runner_cfg

WORLD = 2


def _rank_main(rank: int, store: str, patches: str, work_dir: str, max_epochs: int = 1,
               resume: bool = False) -> None:
    import torch.distributed as dist
    from mmengine.runner import Runner
    import dp_plugin  # noqa: F401
    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD))
    # mmengine 0.10.7's pytorch launcher calls torch.cuda.set_device: init gloo ourselves
    dist.init_process_group('gloo', init_method=f'file://{store}', rank=rank,
                            world_size=WORLD)
    cfg = tiny_runner_cfg(patches, work_dir, max_epochs=max_epochs, batch_size=8)
    cfg.resume = resume
    cfg.model.queue_size = 4096
    cfg.launcher = 'pytorch'
    cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None)
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model.module
    torch.save(dict(queue=model.queue.state_dict(),
                    online={n: p.detach() for n, p in model.online.named_parameters()},
                    seen=len(runner.train_dataloader.dataset), rng=torch.get_rng_state()),
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
    # each rank drew its own augmentations, and the checkpoint (written by rank 0) holds
    # the generator state of every rank, for an exact resume on each
    assert not torch.equal(s0['rng'], s1['rng'])
    import dp_plugin.engine  # noqa: F401  (allow-lists runner checkpoints)
    ckpt = torch.load(os.path.join(work_dir, 'epoch_1.pth'), weights_only=True)
    saved = ckpt['rng_state']['per_rank']
    assert [torch.equal(saved[r]['torch'], s['rng']) for r, s in enumerate((s0, s1))] == \
        [True, True]


def test_two_rank_ddp_resume_is_exact(tmp_path):
    """2 epochs straight vs 1 epoch + ``--resume`` 1 epoch under 2-rank DDP: the same
    weights, queue and per-rank generator states (each rank gets its own back)."""
    patches = make_patch_set(str(tmp_path / 'data'), n_real=1, n_gen=1, size=64)
    runs = {}
    for name, plan in (('straight', [(2, False)]), ('resumed', [(1, False), (2, True)])):
        work_dir = str(tmp_path / name)
        os.makedirs(work_dir)
        for i, (epochs, resume) in enumerate(plan):
            mp.start_processes(_rank_main, nprocs=WORLD, join=True, start_method='fork',
                               args=(str(tmp_path / f'store_{name}{i}'), patches, work_dir,
                                     epochs, resume))
        runs[name] = [torch.load(os.path.join(work_dir, f'rank{r}.pt'), weights_only=True)
                      for r in range(WORLD)]
    for rank in range(WORLD):
        a, b = runs['straight'][rank], runs['resumed'][rank]
        assert torch.equal(a['rng'], b['rng']), rank
        for name in a['online']:
            assert torch.equal(a['online'][name], b['online'][name]), (rank, name)
        for name in ('feats', 'category', 'label', 'ptr'):
            assert torch.equal(a['queue'][name], b['queue'][name]), (rank, name)
