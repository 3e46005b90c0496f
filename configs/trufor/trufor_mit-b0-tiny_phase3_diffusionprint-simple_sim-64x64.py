# Tiny twin of trufor_mit-b2_phase3_diffusionprint-simple_tgif-512x512.py: confidence + detection heads on
# the tiny phase-2 model (frozen), 100 iterations. Variants differ only in the modality/adapter line.
_base_ = [
    '../_base_/models/trufor_phase3_tiny.py', '../_base_/datasets/tgif_sim_tiny64.py',
    '../_base_/schedules/tiny_cpu_phase3.py', '../_base_/default_runtime.py'
]
model = dict(modality=dict(type='DiffusionPrint', checkpoint='{{$DP_PLUGIN_HOME:~/.cache/dp_plugin}}/diffusionprint_tiny.safetensors', depth=6, width=16, out_channels=16), adapter='simple')
load_from = 'work_dirs/trufor_mit-b0-tiny_phase2_diffusionprint-simple_sim-64x64/iter_200.pth'
