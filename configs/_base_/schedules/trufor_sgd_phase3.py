# TruFor phase 3 (confidence + detection) on trufor_sgd.py: the same SGD schedule, the best
# checkpoint kept on detection balanced accuracy (TruFor: avg_det_bacc).
_base_ = ['./trufor_sgd.py']
default_hooks = dict(checkpoint=dict(save_best='det_bacc'))
