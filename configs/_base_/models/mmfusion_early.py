# MMFusion, early fusion (the released reference model, MixCMNeXt-B2 + CMX + heads).
# Children set `model.modalities` (the list; DiffusionPrint, NoisePrintPP, SRM, Bayar in
# any order) and, for ImageNet weights, `model.backbone.pretrained` (local mit_b2.pth).
# Norm eps 1e-3 as MMFusion's initialisation sets it; the heads' fusion conv has no bias, as
# upstream's SegFormerHead. Preprocessor, head inputs and localization loss (0.3 CE with
# weights 0.5 / 2.5 + 0.7 Dice, exponent 1): localization_segmentor.py.
_base_ = ['./localization_segmentor.py']
model = dict(
    type='MMFusion',
    # modalities=[dict(type=...), ...] is set by each config.
    backbone=dict(
        type='EarlyFusionDualMiT',
        embed_dims=64, num_layers=[3, 4, 6, 3], num_heads=[1, 2, 5, 8],
        drop_path_rate=0.1, norm_cfg=dict(type='LN', eps=1e-3),
        fusion_norm_cfg=dict(type='BN', eps=1e-3),
        mixer_dropout=0.33,
        patch_embed_residual=None,  # None = as the released model (on when >1 modality)
        pretrained=None),
    decode_head=dict(type='AllMLPHead', channels=512, fusion_conv_bias=False),
    conf_head=dict(
        type='ConfidenceHead', in_channels=[64, 128, 320, 512], in_index=[0, 1, 2, 3],
        channels=512, dropout_ratio=0.1, align_corners=False, fusion_conv_bias=False),
    detection_head=dict(type='ConfPoolDetectionHead', hidden_channels=128, dropout_ratio=0.5),
    # Phase 2 (detection): MSE(conf, true-class prob.) without boundary band + 0.5 BCE.
    loss_conf=dict(type='ConfidenceMSELoss', erode=1, dilate=1),
    loss_det=dict(type='DetectionBCELoss', fake_weight=1.0, real_weight=1.0, loss_weight=0.5),
    phase='localization',
    det_label_source='label')
