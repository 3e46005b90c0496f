# CPU-sized twin of models/lite_baseline.py: MiT-B0 widths, one residual block per
# scale, 128-channel head. Same classes and code path as the paper model.
_base_ = ['./lite_baseline.py']
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=(128, 128)),
    backbone=dict(embed_dims=32, num_layers=[2, 2, 2, 2], drop_path_rate=0.0),
    forensic_encoder=dict(channels=(32, 64, 160, 256), num_blocks=(1, 1, 1, 1),
                          stem_channels=16, norm_cfg=norm_cfg),
    fusion_norm_cfg=norm_cfg,
    decode_head=dict(in_channels=[32, 64, 160, 256], channels=128, norm_cfg=norm_cfg))
