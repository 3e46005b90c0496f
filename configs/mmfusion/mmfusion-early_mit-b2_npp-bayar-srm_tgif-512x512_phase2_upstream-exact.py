# Upstream-exact MMFusion (early fusion, detection phase): run the official
# early_fusion_detection.pth (converted with tools/convert/mmfusion_to_dp.py) so that maps
# match MMFusion-IML's own forward to float rounding. Differences from the shipped config:
# - RGB stream normalised from uint8 / 256 as upstream (ImageNet mean/std x 256 on the
#   0-255 input); the modalities already take / 256 (pixel_divisor);
# - noise-stream patch-embedding LayerNorm eps 1e-6 (upstream's channel-first LayerNorm is
#   not reached by the 1e-3 initialisation) and FFM cross-path LayerNorm eps 1e-3 (it is);
# - Noiseprint++ runs its plain network (the BN-folded fast path adds float rounding), with
#   the weights of the converted checkpoint (its extractor_state_dict).
_base_ = ['./mmfusion-early_mit-b2_npp-bayar-srm_tgif-512x512_phase2.py']
model = dict(
    modalities=[dict(type='NoisePrintPP', tile_to_3=True, fast_inference=False),
                dict(type='Bayar'), dict(type='SRM')],
    rgb_mean=[0.485 * 256, 0.456 * 256, 0.406 * 256],
    rgb_std=[0.229 * 256, 0.224 * 256, 0.225 * 256],
    backbone=dict(norm_eps=dict(extra_patch_embed=1e-6, fusion_cross=1e-3)))
load_from = None  # give the converted checkpoint to tools/test.py
