# Tiny twin of trufor_mit-b2_phase2_diffusionprint-simple_tgif-512x512.py for 2 CPU cores: MiT-B0 widths,
# 64 px crops, 200 iterations. Variants differ only in the modality/adapter line.
_base_ = [
    '../_base_/models/trufor_tiny.py', '../_base_/datasets/tgif_sim_tiny64.py',
    '../_base_/schedules/tiny_cpu.py', '../_base_/default_runtime.py'
]
model = dict(modality=dict(type='DiffusionPrint', checkpoint='{{$DP_PLUGIN_HOME:~/.cache/dp_plugin}}/diffusionprint_tiny.safetensors', depth=6, width=16, out_channels=16), adapter='simple')
