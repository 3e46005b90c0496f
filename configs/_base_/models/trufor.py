# TruFor (Guillaro et al., CVPR 2023), mmseg-native: dual MiT-B2 (RGB + modality) with CMX
# fusion after every stage, All-MLP localization head (2 classes). Phase 2 (localization).
# Children set `model.modality` and `model.adapter` (the only lines NP++ / DP configs differ
# in). ImageNet weights: model = dict(backbone=dict(pretrained='pretrained/mit_b2.pth'))
# (a local SegFormer or mmseg MiT file, loaded into both streams). Preprocessor and head
# inputs: localization_segmentor.py.
_base_ = ['./localization_segmentor.py']
norm_cfg = dict(type='BN', requires_grad=True)
head_norm_cfg = dict(type='BN', eps=1e-3, requires_grad=True)  # TruFor's head BN epsilon
model = dict(
    type='TruFor',
    phase='localization',
    # modality=dict(type=...), adapter=None|'simple'|'deep'|'widen' are set by each config.
    backbone=dict(
        type='DualMixVisionTransformer', embed_dims=64, num_layers=[3, 4, 6, 3],
        num_heads=[1, 2, 5, 8], patch_sizes=[7, 3, 3, 3], strides=[4, 2, 2, 2],
        sr_ratios=[8, 4, 2, 1], mlp_ratio=4, qkv_bias=True, drop_path_rate=0.1,
        fusion_norm_cfg=norm_cfg, pretrained=None),
    decode_head=dict(
        type='AllMLPHead', channels=512, fusion_norm_cfg=head_norm_cfg,
        # TruFor phase 2: 0.3 * CE(weights 0.5 / 2.5) + 0.7 * Dice (exponent 2).
        loss_decode=[
            dict(type='ForgeryCrossEntropyLoss', class_weight=[0.5, 2.5], loss_weight=0.3),
            dict(type='ForgeryDiceLoss', loss_weight=0.7, exponent=2),
        ]))
# tools/test.py also writes upstream-compatible .npz files (map, conf, score, imgsize and the
# modality summary) to WORK_DIR/npz.
custom_hooks = [dict(type='TruForNpzHook')]
