# DiffusionPrint replacing Noiseprint++ (64 channels into its own early-conv block); early fusion.
# MMFusion recipe (MMM 2024): MiT-B2, 512 crops, SGD 0.005, 2-epoch warm-up + poly,
# batch 8 x 3, 100 epochs; phase 2 (detection) is the *_phase2.py twin.
# ImageNet weights: model = dict(backbone=dict(pretrained='pretrained/mit_b2.pth')) (a local file).
_base_ = [
    '../_base_/models/mmfusion_early.py', '../_base_/datasets/tgif_sim_mmfusion.py',
    '../_base_/schedules/mmfusion_sgd.py', '../_base_/default_runtime.py'
]
model = dict(modalities=[dict(type='DiffusionPrint', checkpoint='{{$DP_PLUGIN_HOME:~/.cache/dp_plugin}}/diffusionprint.safetensors'), dict(type='Bayar'), dict(type='SRM')])
