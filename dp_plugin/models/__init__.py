"""Forgery localization models."""
from . import backbones, fusion, heads, losses, segmentors, utils  # noqa: F401
from .backbones import *  # noqa: F401,F403
from .forensic_encoder_decoder import IMAGENET_MEAN, IMAGENET_STD, ForensicEncoderDecoder
from .fusion import *  # noqa: F401,F403
from .heads import *  # noqa: F401,F403
from .lite_baseline import LiteBaseline
from .losses import *  # noqa: F401,F403
from .residual_forensic_encoder import ResidualForensicEncoder
from .rgb_weights import load_rgb_pretrained
from .segmentors import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403

__all__ = ['ForensicEncoderDecoder', 'LiteBaseline', 'ResidualForensicEncoder', 'IMAGENET_MEAN',
           'IMAGENET_STD', 'load_rgb_pretrained']
