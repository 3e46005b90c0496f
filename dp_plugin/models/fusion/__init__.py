"""Cross-modal fusion blocks (CMX rectification and fusion, MMFusion's modal mixer)."""
from .early_conv import EarlyConv
from .feature_fusion_module import FeatureFusionModule
from .feature_rectify_module import FeatureRectifyModule
from .modal_mixer import ModalMixer

__all__ = ['EarlyConv', 'FeatureFusionModule', 'FeatureRectifyModule', 'ModalMixer']
