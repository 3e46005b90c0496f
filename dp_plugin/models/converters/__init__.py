"""Checkpoint converters: upstream TruFor / MMFusion / SegFormer state dicts <-> dp_plugin."""
from .rgb_weights import load_rgb_pretrained
from .trufor_checkpoint import native_to_upstream, upstream_to_native

__all__ = ['load_rgb_pretrained', 'native_to_upstream', 'upstream_to_native']
