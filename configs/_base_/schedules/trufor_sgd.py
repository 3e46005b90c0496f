# Paper §9 / TruFor: SGD lr 0.005, momentum 0.9, weight decay 5e-4 (none on biases and
# norms), poly decay, 100 epochs, batch 9 x 2 gradient-accumulation steps (effective 18),
# best checkpoint on validation F1.
_base_ = ['./localization_hooks.py']
optimizer = dict(type='SGD', lr=0.005, momentum=0.9, weight_decay=5e-4)
optim_wrapper = dict(type='OptimWrapper', optimizer=optimizer, accumulative_counts=2,
                     clip_grad=None,
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=100, by_epoch=True,
         convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=1)
default_hooks = dict(
    logger=dict(interval=50, log_metric_by_epoch=True),
    checkpoint=dict(by_epoch=True, interval=1, save_best='f1', rule='greater'))
log_processor = dict(by_epoch=True)
