# Tiny twin of the `paper` family's final config (same code path) for 2 CPU cores:
# DnCNN-6 with 16 channels on 32x32 patches, batch 64, queue 2048, top-k 64, generator
# head (4 classes), the paper family's schedule (its first 10 epochs: Adam 1e-3, wd 1e-4,
# clip 10), trained on the simulator's data (tools/simulate.py + tools/build_patches.py
# --patch-size 32). See docs/pretraining.md.
_base_ = './diffusionprint_dncnn17_c64_bs512_q65536_k512_gen4.py'
data_root = 'data/sim/pretrain_patches'
generators = ['simnn', 'simbl', 'simtc']
model = dict(backbone=dict(depth=6, width=16, out_channels=16), patch_size=32,
             queue_size=2048, topk=64, num_classes=4, cls_weight=1.0,
             neg_batch_size=None)  # the batch's 64 pool patches: the small queue turns over
train_dataloader = dict(
    batch_size=64, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, generators=generators))
train_cfg = dict(max_epochs=10)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
default_hooks = dict(logger=dict(interval=10))
# fp32 (autocast off) for the tiny twin: bf16 is measured to help at DnCNN-17/64 only
# (docs/pretraining.md, Speed), and this twin is the fp32 reference of the docs' numbers.
optim_wrapper = dict(dtype='float32')
