# Loops and hooks shared by the localization schedules (tiny_cpu.py, trufor_sgd.py and
# their children): each schedule adds the logger interval and its checkpoint interval.
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook'),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # atomic checkpoints, crash-safe --resume (docs/localization.md); the previous
    # checkpoint is kept as the fallback of a torn newest one
    checkpoint=dict(type='AtomicCheckpointHook', max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
