# datasets/tgif_sim.py at 128 px crops for 2 CPU cores (no worker processes).
_base_ = ['./tgif_sim.py']
crop_size = (128, 128)
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
val_dataloader = dict(num_workers=0, persistent_workers=False)
test_dataloader = dict(num_workers=0, persistent_workers=False)
