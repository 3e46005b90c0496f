# DiffusionPrint replacing Noiseprint++ (its stream's first patch embedding takes 64 channels); late fusion: one MiT-B2 noise stream per modality, fused maps concatenated
# (3 modalities -> head widths x3). Same recipe as the early-fusion configs.
_base_ = [
    '../_base_/models/mmfusion_late.py', '../_base_/datasets/tgif_sim_mmfusion.py',
    '../_base_/schedules/mmfusion_sgd.py', '../_base_/default_runtime.py'
]
widths = [64 * 3, 128 * 3, 320 * 3, 512 * 3]
model = dict(modalities=[dict(type='DiffusionPrint', checkpoint='{{$DP_PLUGIN_HOME:~/.cache/dp_plugin}}/diffusionprint.safetensors'), dict(type='Bayar'), dict(type='SRM')],
             decode_head=dict(in_channels=widths), conf_head=dict(in_channels=widths))
