"""Losses of dp_plugin: forged-class localization terms and TruFor's phase-3 terms."""
from .confidence_mse_loss import ConfidenceMSELoss, boundary_band_targets
from .detection_bce_loss import DetectionBCELoss
from .forgery_cross_entropy_loss import ForgeryCrossEntropyLoss
from .forgery_dice_loss import ForgeryDiceLoss

__all__ = ['ConfidenceMSELoss', 'DetectionBCELoss', 'ForgeryCrossEntropyLoss', 'ForgeryDiceLoss',
           'boundary_band_targets']
