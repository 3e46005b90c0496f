"""Build modalities from config dicts."""
from typing import Union

from mmengine.config import ConfigDict

from dp_plugin.registry import MODALITIES
from .base_modality import BaseModality


def build_modality(cfg: Union[dict, ConfigDict, BaseModality]) -> BaseModality:
    """Build a modality from ``dict(type='DiffusionPrint', ...)`` (or pass one through)."""
    if isinstance(cfg, BaseModality):
        return cfg
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise TypeError(f'a modality config must be a dict with a "type" key, got {cfg!r}')
    modality = MODALITIES.build(cfg)
    if not isinstance(modality, BaseModality):
        raise TypeError(f'{cfg["type"]} is not a BaseModality')
    return modality
