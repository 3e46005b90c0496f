# datasets/tgif_sim_tiny.py with 64 px training crops (heavier two-stream models on a
# crowded 2-core CPU); validation and test still run on the full 128 px images.
_base_ = ['./tgif_sim_tiny.py']
crop_size = (64, 64)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadForgeryAnnotation'),
    dict(type='RandomRescale', ratio_range=(0.5, 1.5)),
    dict(type='RandomJPEGCompression', quality=(30, 100)),
    dict(type='RandomCropPad', crop_size=crop_size, pad_val=0, seg_pad_val=255),
    dict(type='PackSegInputs', meta_keys={{_base_.meta_keys}}),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
