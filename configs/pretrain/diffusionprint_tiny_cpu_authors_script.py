# Tiny twin of the `authors_script` family (its bases, same code path) for 2 CPU cores:
# DnCNN-6 with 16 channels and C = 64 (their C is 4x the width) on 32x32 patches, projector
# 512 with BatchNorm, in-batch negatives, batch 32 (half the paper twin's, as 256 is half
# of 512; drop_last as theirs), queue 2048, top-k 8 (1/8 of the paper twin's, as 64 is of
# 512), 10 epochs.
_base_ = ['../_base_/models/diffusionprint_pretrain_authors_script.py',
          '../_base_/datasets/pretrain_patches_sim.py', '../_base_/schedules/pretrain_50e.py',
          '../_base_/pretrain_runtime_cpu.py']
model = dict(backbone=dict(depth=6, width=16, out_channels=64), patch_size=32,
             queue_size=2048, topk=8,
             neg_batch_size=None)  # the batch's 32 pool patches: the small queue turns over
train_dataloader = dict(batch_size=32, drop_last=True)
train_cfg = dict(max_epochs=10)
