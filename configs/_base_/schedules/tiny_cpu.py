# A few hundred iterations on CPU; validation (and best-checkpoint selection) at the end.
# AdamW instead of the paper's SGD so a randomly initialised tiny model learns in
# minutes; the paper schedule is schedules/trufor_sgd.py.
_base_ = ['./localization_hooks.py']
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01))
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=200, by_epoch=False)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=200, val_interval=200)
default_hooks = dict(
    logger=dict(interval=25, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=200, save_best='f1', rule='greater'))
log_processor = dict(by_epoch=False)
