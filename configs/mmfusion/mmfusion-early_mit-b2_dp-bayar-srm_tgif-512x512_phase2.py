# Phase 2 (detection) of mmfusion-early_mit-b2_dp-bayar-srm_tgif-512x512.py: conf_head + detection trained, modalities, backbone and
# decode_head frozen (eval, no gradients); checkpoints selected by detection AUC.
# Start from the phase-1 checkpoint: --cfg-options load_from=work_dirs/mmfusion-early_mit-b2_dp-bayar-srm_tgif-512x512/best_f1_epoch_N.pth
_base_ = ['./mmfusion-early_mit-b2_dp-bayar-srm_tgif-512x512.py']
model = dict(phase='detection')
load_from = 'work_dirs/mmfusion-early_mit-b2_dp-bayar-srm_tgif-512x512/phase1.pth'
default_hooks = dict(checkpoint=dict(save_best='det_auc', rule='greater'))
