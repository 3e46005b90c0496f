# Tiny twin of trufor_mit-b2_phase3_noiseprintpp_tgif-512x512.py: confidence + detection heads on
# the tiny phase-2 model (frozen), 100 iterations. Variants differ only in the modality/adapter line.
_base_ = [
    '../_base_/models/trufor_phase3_tiny.py', '../_base_/datasets/tgif_sim_tiny64.py',
    '../_base_/schedules/tiny_cpu_phase3.py', '../_base_/default_runtime.py'
]
model = dict(modality=dict(type='NoisePrintPP', tile_to_3=True, checkpoint='../shared/weights/noiseprint++/noiseprint++.th'), adapter=None)
load_from = 'work_dirs/trufor_mit-b0-tiny_phase2_noiseprintpp_sim-64x64/iter_200.pth'
