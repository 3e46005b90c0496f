# Tiny CPU twin of the early-fusion configs (same classes and code path): MiT-B0-sized
# streams, 64 px crops, 200 iterations, then test on the simulator's testing split.
# DiffusionPrint here is a randomly initialised small DnCNN with a 64-channel output
# (depth 6, width 16); point checkpoint= at an export (and match depth/width/out_channels)
# to use a pretrained one. Noiseprint++ uses the real weights (path from the repo root).
_base_ = [
    '../_base_/models/mmfusion_early_tiny.py', '../_base_/datasets/tgif_sim_mmfusion_tiny.py',
    '../_base_/schedules/mmfusion_tiny_cpu.py', '../_base_/default_runtime.py'
]
model = dict(modalities=[dict(type='DiffusionPrint', depth=6, width=16, out_channels=64, checkpoint=None), dict(type='NoisePrintPP', tile_to_3=True, checkpoint='../shared/weights/noiseprint++/noiseprint++.th')])
