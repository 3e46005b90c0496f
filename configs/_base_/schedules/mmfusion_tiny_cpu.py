# 60 iterations on 2 (shared) CPU cores. Same optimizer family as mmfusion_sgd.py (SGD,
# no decay on norms/biases, warm-up + poly) with a larger lr and no accumulation so a
# randomly initialised tiny model moves in minutes; validation at the end only.
_base_ = ['./mmfusion_sgd.py']
max_iters = 60
optimizer = dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=5e-4)
optim_wrapper = dict(optimizer=optimizer, accumulative_counts=1)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=6),
    dict(type='PolyLR', eta_min=0.0, power=0.9, by_epoch=False, begin=6, end=max_iters),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=20, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1, save_best=None))
log_processor = dict(by_epoch=False)
