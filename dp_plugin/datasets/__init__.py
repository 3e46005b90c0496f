"""Forgery localization datasets (TGIF FR layout and TruFor/MMFusion list files)."""
from .forgery_list_dataset import ForgeryListDataset, parse_list_line
from .tgif_dataset import FORGERY_METAINFO, TGIFDataset
from .tgif_naming import canonical_split, parse_fr_name, parse_orig_name

__all__ = ['TGIFDataset', 'ForgeryListDataset', 'FORGERY_METAINFO', 'parse_list_line',
           'parse_fr_name', 'parse_orig_name', 'canonical_split']
