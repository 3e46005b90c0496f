# Tiny twin of lite-baseline_mit-b2_diffusionprint_tgif-512x512.py for 2 CPU cores (a few minutes):
# MiT-B0 widths, 128 px crops, 200 iterations. Variants differ only in the modality line.
_base_ = [
    '../_base_/models/lite_baseline_tiny.py', '../_base_/datasets/tgif_sim_tiny.py',
    '../_base_/schedules/tiny_cpu.py', '../_base_/default_runtime.py'
]
model = dict(modality=dict(type='DiffusionPrint', checkpoint='{{$DP_PLUGIN_HOME:~/.cache/dp_plugin}}/diffusionprint_tiny.safetensors', depth=6, width=16, out_channels=16))
