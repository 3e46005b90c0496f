# MMFusion's recipe: SGD lr 0.005, momentum 0.9, weight decay 5e-4 (no decay on biases
# and norms), 2-epoch linear warm-up then poly (power 0.9), 100 epochs, batch 8 x 3
# gradient-accumulation steps (effective 24; set the batch in the dataloader). AMP on GPU
# only: add `--amp` to tools/train.py (the modalities always run in float32).
optimizer = dict(type='SGD', lr=0.005, momentum=0.9, weight_decay=5e-4)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, accumulative_counts=3,
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='PolyLR', eta_min=0.0, power=0.9, by_epoch=True, begin=2, end=100,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=True, interval=1, max_keep_ckpts=1,
                    save_best='f1', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
log_processor = dict(by_epoch=True)
