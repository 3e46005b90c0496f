# Lite Baseline (paper §5.1, §8): MiT-B2 RGB stream + residual CNN on a frozen modality,
# per-scale concat + 1x1 conv + BN + ReLU, SegFormer All-MLP head. ~36 M parameters.
# Children set `model.modality` (one line) and, for ImageNet weights, `model.rgb_pretrained`.
# Preprocessor, head inputs and loss (TruFor's weights, Dice exponent 1 as MMFusion):
# localization_segmentor.py.
_base_ = ['./localization_segmentor.py']
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    type='LiteBaseline',
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
    decode_head=dict(type='SegformerHead', channels=768, norm_cfg=norm_cfg))
