# What every localization model here shares (lite_baseline.py, trufor.py, mmfusion_early.py
# set the type, the encoders and their head's type and width): 0-255 RGB in, no
# normalisation in the preprocessor (the models normalise the RGB stream themselves and
# the modalities take raw pixels), 512 px batches; a 2-class head on the four MiT-B2
# stages with 0.3 weighted CE (0.5 / 2.5) + 0.7 Dice (exponent 1, as MMFusion; TruFor
# squares the denominator terms and overrides it); whole-image inference.
model = dict(
    data_preprocessor=dict(
        type='SegDataPreProcessor', mean=None, std=None, bgr_to_rgb=True,
        pad_val=0, seg_pad_val=255, size=(512, 512)),
    decode_head=dict(
        in_channels=[64, 128, 320, 512], in_index=[0, 1, 2, 3], dropout_ratio=0.1,
        num_classes=2, align_corners=False,
        loss_decode=[
            dict(type='ForgeryCrossEntropyLoss', class_weight=[0.5, 2.5], loss_weight=0.3),
            dict(type='ForgeryDiceLoss', loss_weight=0.7, exponent=1),
        ]),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
