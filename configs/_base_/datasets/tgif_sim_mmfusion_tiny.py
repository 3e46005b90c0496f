# tgif_sim_mmfusion.py for 2 CPU cores: 64 px training crops, batch 4, no worker
# processes; validation on 2 images per group, testing on 4 per generator x mask type
# (+4 authentic) at full size (raise max_per_group for less noisy numbers).
_base_ = ['./tgif_sim_mmfusion.py']
crop_size = (64, 64)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadForgeryAnnotation'),
    dict(type='RandomRescale', ratio_range=(0.5, 1.5)),
    dict(type='RandomJPEGCompression', quality=(30, 100)),
    dict(type='RandomCropPad', crop_size=crop_size, pad_val=0, seg_pad_val=255),
    dict(type='PackSegInputs', meta_keys={{_base_.meta_keys}}),
]
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        sampler=dict(type='InfiniteSampler', shuffle=True),
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(max_per_group=2))
test_dataloader = dict(num_workers=0, persistent_workers=False,
                       dataset=dict(max_per_group=4))
