"""Fusion blocks: CMX rectification and fusion, MMFusion's modal mixer, TruFor's modality adapter."""
from .early_conv import EarlyConv
from .feature_fusion_module import FeatureFusionModule
from .feature_rectify_module import FeatureRectifyModule
from .modal_mixer import ModalMixer
from .modality_adapter import ADAPTER_KINDS, ModalityAdapter, build_modality_adapter

__all__ = ['ADAPTER_KINDS', 'EarlyConv', 'FeatureFusionModule', 'FeatureRectifyModule',
           'ModalMixer', 'ModalityAdapter', 'build_modality_adapter']
