"""Model utilities of dp_plugin."""
from .modalities_extractor import SLOT_NAMES, ModalitiesExtractor, slot_name
from .modality_adapter import ADAPTER_KINDS, ModalityAdapter, build_modality_adapter
from .trufor_checkpoint import native_to_upstream, upstream_to_native

__all__ = ['ADAPTER_KINDS', 'ModalityAdapter', 'build_modality_adapter', 'native_to_upstream',
           'upstream_to_native', 'ModalitiesExtractor', 'SLOT_NAMES', 'slot_name']
