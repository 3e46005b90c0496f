"""Segmentors of dp_plugin."""
from .tru_for import TruFor

__all__ = ['TruFor']
