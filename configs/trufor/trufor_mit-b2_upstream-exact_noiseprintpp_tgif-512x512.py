# Upstream-exact TruFor: run the official trufor.pth.tar (converted with
# tools/convert/trufor_to_dp.py) so that maps match TruFor's released inference model
# (test_docker myEncoderDecoder) to float rounding. Differences from the shipped config:
# - RGB stream normalised from uint8 / 256 as upstream (ImageNet mean/std x 256 on the
#   0-255 input); Noiseprint++ already takes / 256 (pixel_divisor);
# - LayerNorm eps 1e-5 (PyTorch's default upstream) in both streams' patch embeddings and
#   in the attention's spatial-reduction norm; blocks keep 1e-6 (mmseg's MiT uses 1e-6 for all);
# - confidence-head BatchNorm eps 1e-5: the released model sets 1e-3 on the localization
#   head only (TruFor_train_test/test.py sets it on both; to match that one, add
#   --cfg-options model.conf_head.fusion_norm_cfg.eps=0.001);
# - Noiseprint++ runs its plain network (the BN-folded fast path adds float rounding, about
#   1e-4 on map probability), with the weights of the converted checkpoint (dncnn.*), so
#   noiseprint++.th is not needed.
_base_ = ['./trufor_mit-b2_phase3_noiseprintpp_tgif-512x512.py']
model = dict(
    modality=dict(checkpoint=None, fast_inference=False),
    rgb_mean=[0.485 * 256, 0.456 * 256, 0.406 * 256],
    rgb_std=[0.229 * 256, 0.224 * 256, 0.225 * 256],
    backbone=dict(norm_eps=dict(rgb_patch_embed=1e-5, extra_patch_embed=1e-5, attn_sr=1e-5)),
    conf_head=dict(fusion_norm_cfg=dict(type='BN', eps=1e-5, requires_grad=True)))
load_from = None  # give the converted checkpoint to tools/test.py
