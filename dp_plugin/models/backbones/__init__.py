"""Backbones of dp_plugin."""
from .dual_mit import DualMixVisionTransformer

__all__ = ['DualMixVisionTransformer']
