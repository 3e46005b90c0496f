# TruFor phase 3 (confidence + detection) on top of phase 2; modality, adapter, backbone and
# localization head frozen. Variants differ only in the modality/adapter line.
_base_ = [
    '../_base_/models/trufor_phase3.py', '../_base_/datasets/tgif_sim.py',
    '../_base_/schedules/trufor_sgd_phase3.py', '../_base_/default_runtime.py'
]
model = dict(modality=dict(type='NoisePrintPP', tile_to_3=True, checkpoint='../shared/weights/noiseprint++/noiseprint++.th'), adapter=None)
load_from = 'work_dirs/trufor_mit-b2_phase2_noiseprintpp_tgif-512x512/epoch_100.pth'  # or its best_f1_epoch_*.pth
