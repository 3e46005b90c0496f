# TGIF-layout localization set written by `tools/simulate.py --out data/sim`
# (or the real TGIF/TGIF2 FR folders: set data_root and generators).
# Training and validation use semantic masks only (paper §5.1); testing reports every
# generator x mask type, authentic images separately.
dataset_type = 'TGIFDataset'
data_root = 'data/sim/localization'
crop_size = (512, 512)
train_generators = ['simnn', 'simbl', 'simtc']  # simps is held out; None = every {gen}-fr folder
meta_keys = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape',
             'scale_factor', 'flip', 'flip_direction', 'reduce_zero_label',
             'generator', 'mask_type', 'label')
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadForgeryAnnotation'),
    # Paper §9: resize in [0.5, 1.5] and JPEG Q ~ U[30, 100] on the RGB, before the
    # modality (which runs inside the model); then a padded random crop.
    dict(type='RandomRescale', ratio_range=(0.5, 1.5)),
    dict(type='RandomJPEGCompression', quality=(30, 100)),
    dict(type='RandomCropPad', crop_size=crop_size, pad_val=0, seg_pad_val=255),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadForgeryAnnotation'),
    dict(type='PackSegInputs', meta_keys=meta_keys),
]
train_dataloader = dict(
    batch_size=9,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='training',
                 generators=train_generators, mask_types=['segm'], pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    # the training generators' semantic masks, on the validation split
    dataset=dict(train_dataloader['dataset'], split='validation', pipeline=test_pipeline))
test_dataloader = dict(  # loaded as validation; every generator and mask type
    val_dataloader,
    dataset=dict(type=dataset_type, data_root=data_root, split='testing', pipeline=test_pipeline))
val_evaluator = dict(type='ForgeryLocalizationMetric')
test_evaluator = dict(type='ForgeryLocalizationMetric')
