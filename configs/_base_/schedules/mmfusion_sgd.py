# MMFusion's recipe: TruFor's SGD schedule (lr 0.005, momentum 0.9, weight decay 5e-4,
# none on biases and norms, poly 0.9, 100 epochs, best checkpoint on validation F1) with
# a 2-epoch linear warm-up and batch 8 x 3 gradient-accumulation steps (effective 24; set
# the batch in the dataloader). AMP on GPU only: add `--amp` to tools/train.py
# (the modalities always run in float32).
_base_ = ['./trufor_sgd.py']
optim_wrapper = dict(accumulative_counts=3)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=2,
         convert_to_iter_based=True),
    dict(type='PolyLR', eta_min=0.0, power=0.9, by_epoch=True, begin=2, end=100,
         convert_to_iter_based=True),
]
