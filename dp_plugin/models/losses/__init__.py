"""Losses of dp_plugin (TruFor training phases)."""
from .confidence_mse_loss import ConfidenceMSELoss, boundary_band_targets
from .detection_bce_loss import DetectionBCELoss
from .dice_entropy_loss import DiceEntropyLoss

__all__ = ['ConfidenceMSELoss', 'DetectionBCELoss', 'DiceEntropyLoss', 'boundary_band_targets']
