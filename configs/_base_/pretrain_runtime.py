# Runtime of the contrastive pretraining: the localization runtime (scope, imports, env,
# log level, seed, no load/resume) plus epoch-based, atomic checkpoints carrying queue,
# EMA weights, optimizer, scheduler and RNG states (exact resume); the queue is filled
# from the hard-negative pool before the first step (authors' script), not on --resume.
_base_ = './default_runtime.py'
# the Runner's own visualizer (scalars under this run's log folder): the localization's
# SegLocalVisualizer is one instance named 'visualizer', which a second run in the same
# process would reuse, logging into the first run's folder
visualizer = None
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='AtomicCheckpointHook', by_epoch=True, interval=1, max_keep_ckpts=3,
                    backend_args=dict(backend='atomic_local')),
    sampler_seed=dict(type='DistSamplerSeedHook'))
custom_hooks = [dict(type='QueueFillHook'), dict(type='RNGStateHook')]
log_processor = dict(by_epoch=True)
# DDP: rank 0's BatchNorm statistics are broadcast; the queue is not a buffer.
model_wrapper_cfg = dict(type='MMDistributedDataParallel', find_unused_parameters=False)
