# Tiny twin of the paper config (same code path) for 2 CPU cores: DnCNN-6 with 16
# channels on 32x32 patches, batch 64, queue 2048, top-k 64, generator head (4
# classes), trained on the simulator's data (tools/simulate.py + tools/build_patches.py
# --patch-size 32). About 1.5 CPU-minutes (1 thread); see docs/pretraining.md.
_base_ = './diffusionprint_dncnn17_c64_bs512_q65536_k512_gen4.py'
data_root = 'data/sim/pretrain_patches'
generators = ['simnn', 'simbl', 'simtc']
model = dict(backbone=dict(depth=6, width=16, out_channels=16), patch_size=32,
             queue_size=2048, topk=64, num_classes=4, cls_weight=1.0)
train_dataloader = dict(
    batch_size=64, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, generators=generators))
max_epochs = 10
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=0,
                        end=max_epochs, convert_to_iter_based=True)]
env_cfg = dict(dist_cfg=dict(backend='gloo'))
default_hooks = dict(logger=dict(interval=10))
