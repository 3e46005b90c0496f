"""Backbones of dp_plugin."""
from .dual_mit import DualMixVisionTransformer
from .early_fusion_dual_mit import EarlyFusionDualMiT
from .late_fusion_multi_mit import LateFusionMultiMiT
from .multi_stream_mit import MultiStreamMiT
from .residual_forensic_encoder import ResidualForensicEncoder

__all__ = ['DualMixVisionTransformer', 'EarlyFusionDualMiT', 'LateFusionMultiMiT',
           'MultiStreamMiT', 'ResidualForensicEncoder']
