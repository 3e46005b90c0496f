# Tiny twin of the `paper` family's final config (the gen4 config's bases and head, same
# code path) for 2 CPU cores: DnCNN-6 with 16 channels on 32x32 patches, batch 64, queue
# 2048, top-k 64, generator head (4 classes), the paper family's schedule (its first 10
# epochs: Adam 1e-3, wd 1e-4, clip 10), trained on the simulator's data (tools/simulate.py
# + tools/build_patches.py --patch-size 32). See docs/pretraining.md.
_base_ = ['../_base_/models/diffusionprint_pretrain.py',
          '../_base_/datasets/pretrain_patches_sim.py', '../_base_/schedules/pretrain_50e.py',
          '../_base_/pretrain_runtime_cpu.py']
model = dict(backbone=dict(depth=6, width=16, out_channels=16), patch_size=32,
             queue_size=2048, topk=64, num_classes=4, cls_weight=1.0,
             neg_batch_size=None)  # the batch's 64 pool patches: the small queue turns over
train_dataloader = dict(batch_size=64)
train_cfg = dict(max_epochs=10)
# fp32 (autocast off) for the tiny twin: bf16 is measured to help at DnCNN-17/64 only
# (docs/pretraining.md, Speed), and this twin is the fp32 reference of the docs' numbers.
optim_wrapper = dict(dtype='float32')
