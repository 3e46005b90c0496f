# Phase 2 (detection) of mmfusion-early_tiny_dp_sim-64x64.py: 40 iterations on conf_head + detection with the rest
# frozen; testing then prints the grouped F1 table and the detection AUC / bACC.
_base_ = ['./mmfusion-early_tiny_dp_sim-64x64.py']
model = dict(phase='detection')
load_from = 'work_dirs/mmfusion-early_tiny_dp_sim-64x64/iter_200.pth'
max_iters = 40
param_scheduler = [dict(type='PolyLR', eta_min=0.0, power=0.9, by_epoch=False, begin=0,
                        end=max_iters)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(checkpoint=dict(interval=max_iters))
