# Tiny twin of trufor_mit-b2_phase2_noiseprintpp_tgif-512x512.py for 2 CPU cores: MiT-B0 widths,
# 64 px crops, 200 iterations. Variants differ only in the modality/adapter line.
_base_ = [
    '../_base_/models/trufor_tiny.py', '../_base_/datasets/tgif_sim_tiny64.py',
    '../_base_/schedules/tiny_cpu.py', '../_base_/default_runtime.py'
]
model = dict(modality=dict(type='NoisePrintPP', tile_to_3=True, checkpoint='../shared/weights/noiseprint++/noiseprint++.th'), adapter=None)
