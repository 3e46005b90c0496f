"""File naming of the TGIF / TGIF2 fully-regenerated (FR) layout.

Names (see docs/contracts.md and the TGIF README)::

    original/{split}/{id}_orig_{S}.png
    masks/{split}/{id}_mask_{type}_{S}.png
    {gen}-fr/{split}/{id}_mask_{type}.png_{gen}-{S}_{var}.png

``{id}`` is the (zero-padded) COCO id, ``{type}`` the mask type (``segm``, ``bbox``,
``random``), ``{S}`` the crop size the generator worked at and ``{var}`` the variation.
"""
import re
from typing import NamedTuple, Optional

#: Split names on disk and the aliases accepted for them.
SPLIT_ALIASES = {
    'training': 'training', 'train': 'training',
    'validation': 'validation', 'val': 'validation',
    'testing': 'testing', 'test': 'testing',
}

_FR_RE = re.compile(r'^(?P<id>\d+)_mask_(?P<mask_type>[A-Za-z]+)\.png_'
                    r'(?P<generator>[A-Za-z0-9.]+)-(?P<size>\d+)_(?P<var>\d+)\.(?P<ext>png|jpe?g)$')
_ORIG_RE = re.compile(r'^(?P<id>\d+)_orig(?:_(?P<size>\d+))?\.(?P<ext>png|jpe?g)$')


class FRName(NamedTuple):
    """Fields of a fully-regenerated image name."""
    image_id: str
    mask_type: str
    generator: str
    size: int
    variation: int


class OrigName(NamedTuple):
    """Fields of an authentic image name."""
    image_id: str
    size: Optional[int]


def canonical_split(split: str) -> str:
    """``'train'`` / ``'training'`` -> ``'training'`` (and val, test); error otherwise."""
    try:
        return SPLIT_ALIASES[split.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f'unknown split {split!r}; expected one of '
                         f'{sorted(set(SPLIT_ALIASES))}') from None


def parse_fr_name(filename: str) -> Optional[FRName]:
    """Parse ``{id}_mask_{type}.png_{gen}-{S}_{var}.png``; ``None`` if it does not match."""
    m = _FR_RE.match(filename)
    if m is None:
        return None
    return FRName(m['id'], m['mask_type'].lower(), m['generator'].lower(),
                  int(m['size']), int(m['var']))


def parse_orig_name(filename: str) -> Optional[OrigName]:
    """Parse ``{id}_orig_{S}.png`` (or ``{id}_orig.png``); ``None`` if it does not match."""
    m = _ORIG_RE.match(filename)
    if m is None:
        return None
    return OrigName(m['id'], int(m['size']) if m['size'] else None)


def fr_mask_name(fr: FRName, ext: str = 'png') -> str:
    """Ground-truth mask file name of a fully-regenerated image (the cropped mask)."""
    return f'{fr.image_id}_mask_{fr.mask_type}_{fr.size}.{ext}'
