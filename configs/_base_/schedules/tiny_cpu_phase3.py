# Phase 3 of the tiny TruFor configs: tiny_cpu.py for 100 iterations (confidence + detection
# heads trained, the rest frozen), validation and checkpoint at the end, best on det_bacc.
_base_ = ['./tiny_cpu.py']
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, end=100, by_epoch=False)]
train_cfg = dict(max_iters=100, val_interval=100)
default_hooks = dict(checkpoint=dict(interval=100, save_best='det_bacc'))
