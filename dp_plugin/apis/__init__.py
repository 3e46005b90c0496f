"""User-facing entry points: robust image I/O, model inference and ``dp-localize``."""
from .image_io import ImageReadError, atomic_write, read_image, read_mask
from .inference import LocalizationOutput, Localizer, load_state_dict_safely

__all__ = ['ImageReadError', 'atomic_write', 'read_image', 'read_mask',
           'LocalizationOutput', 'Localizer', 'load_state_dict_safely']
