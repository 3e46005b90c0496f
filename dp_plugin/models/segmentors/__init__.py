"""Segmentors of dp_plugin."""
from .forensic_encoder_decoder import IMAGENET_MEAN, IMAGENET_STD, ForensicEncoderDecoder
from .lite_baseline import LiteBaseline
from .mmfusion import MMFusion
from .trufor import TruFor

__all__ = ['ForensicEncoderDecoder', 'IMAGENET_MEAN', 'IMAGENET_STD', 'LiteBaseline', 'MMFusion',
           'TruFor']
