# Phase 2 (detection) of the tiny MMFusion configs: mmfusion_tiny_cpu.py for 40 iterations
# (conf_head + detection trained, the rest frozen), validation and checkpoint at the end.
_base_ = ['./mmfusion_tiny_cpu.py']
max_iters = 40
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, by_epoch=False, begin=0,
                        end=max_iters)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
