# Upstream-exact MMFusion, late fusion (detection phase): for the official
# late_fusion_detection.pth converted with tools/convert/mmfusion_to_dp.py. As upstream:
# RGB normalised from uint8 / 256 (ImageNet mean/std x 256 on the 0-255 input) and FFM
# cross-path LayerNorm eps 1e-3 (the late-fusion patch embeddings are nn.LayerNorms: 1e-3);
# Noiseprint++ runs its plain network with the converted checkpoint's weights.
_base_ = ['./mmfusion-late_mit-b2_npp-bayar-srm_tgif-512x512.py']
model = dict(
    phase='detection',
    modalities=[dict(type='NoisePrintPP', tile_to_3=True, fast_inference=False),
                dict(type='Bayar'), dict(type='SRM')],
    rgb_mean=[0.485 * 256, 0.456 * 256, 0.406 * 256],
    rgb_std=[0.229 * 256, 0.224 * 256, 0.225 * 256],
    backbone=dict(norm_eps=dict(fusion_cross=1e-3)))
default_hooks = dict(checkpoint=dict(save_best='det_auc', rule='greater'))
