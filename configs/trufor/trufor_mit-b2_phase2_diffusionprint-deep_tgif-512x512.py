# TruFor phase 2 (localization), paper setup: MiT-B2, 512 crops, SGD 0.005, batch 9 x 2,
# 100 epochs; the modality is frozen. Variants differ only in the modality/adapter line.
# ImageNet weights: model = dict(backbone=dict(pretrained='pretrained/mit_b2.pth')).
_base_ = [
    '../_base_/models/trufor.py', '../_base_/datasets/tgif_sim.py',
    '../_base_/schedules/trufor_sgd.py', '../_base_/default_runtime.py'
]
model = dict(modality=dict(type='DiffusionPrint', checkpoint='{{$DP_PLUGIN_HOME:~/.cache/dp_plugin}}/diffusionprint.safetensors'), adapter='deep')
