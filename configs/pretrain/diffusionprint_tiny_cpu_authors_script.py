# Tiny twin of the `authors_script` family (same code path) for 2 CPU cores: DnCNN-6
# with 16 channels and C = 64 (their C is 4x the width) on 32x32 patches, projector 512
# with BatchNorm, in-batch negatives, batch 32 (half the paper twin's, as 256 is half of
# 512), queue 2048, top-k 8 (1/8 of the paper twin's, as 64 is of 512), 10 epochs.
_base_ = './diffusionprint_authors_script_dncnn17_c256_bs256_q65536_k64.py'
data_root = 'data/sim/pretrain_patches'
generators = ['simnn', 'simbl', 'simtc']
model = dict(backbone=dict(depth=6, width=16, out_channels=64), patch_size=32,
             queue_size=2048, topk=8,
             neg_batch_size=None)  # the batch's 32 pool patches: the small queue turns over
train_dataloader = dict(
    batch_size=32, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, generators=generators))
train_cfg = dict(max_epochs=10)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
default_hooks = dict(logger=dict(interval=10))
