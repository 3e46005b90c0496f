"""Cross-modal fusion blocks (CMX rectification and fusion)."""
from .feature_fusion_module import FeatureFusionModule
from .feature_rectify_module import FeatureRectifyModule

__all__ = ['FeatureFusionModule', 'FeatureRectifyModule']
