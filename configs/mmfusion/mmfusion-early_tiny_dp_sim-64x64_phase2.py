# Phase 2 (detection) of mmfusion-early_tiny_dp_sim-64x64.py: 40 iterations on conf_head + detection with the rest
# frozen; testing then prints the grouped F1 table and the detection AUC / bACC.
_base_ = [
    '../_base_/models/mmfusion_early_tiny.py', '../_base_/datasets/tgif_sim_mmfusion_tiny.py',
    '../_base_/schedules/mmfusion_tiny_cpu_phase2.py', '../_base_/default_runtime.py'
]
model = dict(phase='detection', modalities=[dict(type='DiffusionPrint', depth=6, width=16, out_channels=64, checkpoint=None)])  # as in phase 1
load_from = 'work_dirs/mmfusion-early_tiny_dp_sim-64x64/iter_200.pth'
