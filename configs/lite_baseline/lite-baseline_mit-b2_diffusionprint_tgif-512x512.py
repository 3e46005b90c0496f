# Lite Baseline, paper setup (§5.1, §8, §9): MiT-B2, 512 crops, SGD, batch 9 x 2, 100 epochs.
# Variants differ only in the modality line. ImageNet weights: add
# model = dict(rgb_pretrained='pretrained/mit_b2.pth') (a local file).
_base_ = [
    '../_base_/models/lite_baseline.py', '../_base_/datasets/tgif_sim.py',
    '../_base_/schedules/trufor_sgd.py', '../_base_/default_runtime.py'
]
model = dict(modality=dict(type='DiffusionPrint', checkpoint='{{$DP_PLUGIN_HOME:~/.cache/dp_plugin}}/diffusionprint.safetensors'))
