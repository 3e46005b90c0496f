# trufor_mit-b2_phase3_diffusionprint-simple_tgif-512x512.py with the 'deep' modality adapter,
# on top of the 'deep' phase-2 checkpoint.
_base_ = ['./trufor_mit-b2_phase3_diffusionprint-simple_tgif-512x512.py']
model = dict(adapter='deep')
load_from = 'work_dirs/trufor_mit-b2_phase2_diffusionprint-deep_tgif-512x512/epoch_100.pth'  # or its best_f1_epoch_*.pth
