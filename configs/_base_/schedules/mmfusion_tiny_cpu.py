# A few minutes on 2 CPU cores (run with OMP_NUM_THREADS=1 when the machine is shared):
# 200 iterations, validation at the end only. AdamW instead of the recipe's SGD so a
# randomly initialised tiny model learns within the run (as the other tiny twins); norms
# and biases without weight decay as in mmfusion_sgd.py. The paper recipe is mmfusion_sgd.py.
_base_ = ['./mmfusion_sgd.py']
max_iters = 200
optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=1e-3, betas=(0.9, 0.999),
                                    weight_decay=0.01),
                     accumulative_counts=1)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=10),
    dict(type='PolyLR', eta_min=0.0, power=0.9, by_epoch=False, begin=10, end=max_iters),
]
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters,
                 val_interval=max_iters)
default_hooks = dict(
    logger=dict(interval=20, log_metric_by_epoch=False),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1, save_best=None))
log_processor = dict(by_epoch=False)
