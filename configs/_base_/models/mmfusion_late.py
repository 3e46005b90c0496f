# MMFusion, late fusion (WSCMNeXt-B2): one MiT-B2 noise stream per modality, fused maps
# concatenated, so the head widths are [64, 128, 320, 512] x M. Children set
# `model.modalities` and the two heads' `in_channels` to match M.
_base_ = ['./mmfusion_early.py']
model = dict(
    backbone=dict(
        _delete_=True, type='LateFusionMultiMiT',
        embed_dims=64, num_layers=[3, 4, 6, 3], num_heads=[1, 2, 5, 8],
        drop_path_rate=0.1, norm_cfg=dict(type='LN', eps=1e-3),
        fusion_norm_cfg=dict(type='BN', eps=1e-3), stage_dropout=0.33, pretrained=None))
