"""Model utilities of dp_plugin."""
from .modalities_extractor import SLOT_NAMES, ModalitiesExtractor, slot_name

__all__ = ['ModalitiesExtractor', 'SLOT_NAMES', 'slot_name']
