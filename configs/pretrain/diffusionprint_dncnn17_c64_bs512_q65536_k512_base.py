# Family `paper`, the ablation default (§4.2): DnCNN-17, C 64, batch 512, queue 65 536,
# top-k 512, no classification head, geometric (flip) augmentation; the authors'
# schedule where the paper gives none. Table 1 rows "Ours", "64 (GAP)", "512", "None"
# and Table 3 row "Geometric" are this config; every ablation is a short child of it.
_base_ = [
    '../_base_/models/diffusionprint_pretrain.py',
    '../_base_/datasets/pretrain_patches.py',
    '../_base_/schedules/pretrain_50e.py',
    '../_base_/pretrain_runtime.py',
]
train_dataloader = dict(batch_size=512)  # paper §4.2: batch size 512
