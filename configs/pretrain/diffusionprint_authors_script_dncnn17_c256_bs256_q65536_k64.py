# Family `authors_script`: the authors' train_diffusionprint.py defaults exactly --
# DnCNN-17 C 256, projector 512 with BatchNorm, k 64, in-batch negatives, 128 pool
# patches per step, batch 256 (drop_last), Adam 1e-3 wd 1e-4, StepLR 10 / 0.1, clip 10,
# 50 epochs, flips drawn once per batch.
_base_ = [
    '../_base_/models/diffusionprint_pretrain_authors_script.py',
    '../_base_/datasets/pretrain_patches.py',
    '../_base_/schedules/pretrain_50e.py',
    '../_base_/pretrain_runtime.py',
]
train_dataloader = dict(batch_size=256, drop_last=True)  # --batch_size 256; DataLoader drop_last
