"""Segmentors of dp_plugin."""
from .mm_fusion import MMFusion
from .tru_for import TruFor

__all__ = ['MMFusion', 'TruFor']
