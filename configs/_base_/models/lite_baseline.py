# Lite Baseline (paper §5.1, §8): MiT-B2 RGB stream + residual CNN on a frozen modality,
# per-scale concat + 1x1 conv + BN + ReLU, SegFormer All-MLP head. ~36 M parameters.
# Children set `model.modality` (one line) and, for ImageNet weights, `model.rgb_pretrained`.
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='LiteBaseline',
    data_preprocessor=dict(
        type='SegDataPreProcessor', mean=None, std=None, bgr_to_rgb=True,
        pad_val=0, seg_pad_val=255, size=(512, 512)),
    # modality=dict(type=...) is set by each config (one line).
    rgb_pretrained=None,  # local ImageNet MiT-B2 file (mmseg or SegFormer format)
    backbone=dict(
        type='MixVisionTransformer', in_channels=3, embed_dims=64, num_stages=4,
        num_layers=[3, 4, 6, 3], num_heads=[1, 2, 5, 8], patch_sizes=[7, 3, 3, 3],
        sr_ratios=[8, 4, 2, 1], out_indices=(0, 1, 2, 3), mlp_ratio=4, qkv_bias=True,
        drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=0.1, init_cfg=None),
    forensic_encoder=dict(
        type='ResidualForensicEncoder', channels=(64, 128, 320, 512),
        num_blocks=(2, 2, 2, 1), norm_cfg=norm_cfg),
    fusion_norm_cfg=norm_cfg,
    decode_head=dict(
        type='SegformerHead', in_channels=[64, 128, 320, 512], in_index=[0, 1, 2, 3],
        channels=768, dropout_ratio=0.1, num_classes=2, norm_cfg=norm_cfg,
        align_corners=False,
        # TruFor's weights: 0.3 weighted CE (0.5 / 2.5) + 0.7 Dice; Dice exponent 1 as MMFusion
        # (TruFor squares the denominator terms).
        loss_decode=[
            dict(type='ForgeryCrossEntropyLoss', class_weight=[0.5, 2.5], loss_weight=0.3),
            dict(type='ForgeryDiceLoss', loss_weight=0.7, exponent=1),
        ]),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
