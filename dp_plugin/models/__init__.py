"""Forgery localization models."""
from .forensic_encoder_decoder import IMAGENET_MEAN, IMAGENET_STD, ForensicEncoderDecoder
from .forgery_cross_entropy_loss import ForgeryCrossEntropyLoss
from .forgery_dice_loss import ForgeryDiceLoss
from .lite_baseline import LiteBaseline
from .residual_forensic_encoder import ResidualForensicEncoder
from .rgb_weights import load_rgb_pretrained

__all__ = ['ForensicEncoderDecoder', 'ForgeryCrossEntropyLoss', 'ForgeryDiceLoss', 'LiteBaseline',
           'ResidualForensicEncoder', 'IMAGENET_MEAN', 'IMAGENET_STD', 'load_rgb_pretrained']
