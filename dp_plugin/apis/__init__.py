"""User-facing entry points: robust image I/O, model inference and ``dp-localize``.

The names load on first use (``from dp_plugin.apis import Localizer``), so that
``dp-localize`` (:func:`dp_plugin.apis.localize_args.launch`) parses its command line
before torch is imported.
"""
import importlib

#: public name -> submodule that defines it
_EXPORTS = {'ImageReadError': 'image_io', 'atomic_write': 'image_io', 'read_image': 'image_io',
            'read_mask': 'image_io', 'LocalizationOutput': 'inference',
            'Localizer': 'inference', 'load_state_dict_safely': 'inference'}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f'.{_EXPORTS[name]}', __name__), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
