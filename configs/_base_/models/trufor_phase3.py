# TruFor phase 3: confidence head (MSE to the true-class probability, 15/11 band) and the
# confidence-pooled detection head (0.5 * weighted BCE); modality, adapter, backbone and
# localization head frozen. Start from the phase-2 checkpoint (`load_from`).
_base_ = ['./trufor.py']
model = dict(
    phase='confidence',
    conf_head=dict(
        type='ConfidenceHead', in_channels=[64, 128, 320, 512], in_index=[0, 1, 2, 3],
        channels=512, dropout_ratio=0.1, align_corners=False,
        fusion_norm_cfg={{_base_.head_norm_cfg}}),
    detection_head=dict(type='ConfPoolDetectionHead', hidden_channels=128, dropout_ratio=0.5),
    loss_conf=dict(type='ConfidenceMSELoss', erode=15, dilate=11, loss_weight=1.0),
    loss_det=dict(type='DetectionBCELoss', loss_weight=0.5))
