# Runtime of the contrastive pretraining: epoch-based, atomic checkpoints carrying
# queue, EMA weights, optimizer, scheduler and RNG states (exact resume); the queue is
# filled from the hard-negative pool before the first step (authors' script), not on
# --resume.
default_scope = 'dp_plugin'
custom_imports = dict(imports=['dp_plugin'], allow_failed_imports=False)
env_cfg = dict(cudnn_benchmark=False,
               mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=True, interval=1, max_keep_ckpts=3,
                    backend_args=dict(backend='atomic_local')),
    sampler_seed=dict(type='DistSamplerSeedHook'))
custom_hooks = [dict(type='QueueFillHook'), dict(type='RNGStateHook')]
log_processor = dict(by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
# DDP: rank 0's BatchNorm statistics are broadcast; the queue is not a buffer.
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=False)
