# The pretraining runtime on CPU (the tiny twins): gloo for DDP, a log line every 10
# iterations.
_base_ = './pretrain_runtime.py'
env_cfg = dict(dist_cfg=dict(backend='gloo'))
default_hooks = dict(logger=dict(interval=10))
