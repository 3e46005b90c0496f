"""Forgery localization metrics and test-time visualisation."""
from . import functional
from .forgery_heatmap_hook import ForgeryHeatmapHook
from .forgery_metric import ForgeryLocalizationMetric, probability_map
from .trufor_npz import trufor_npz_arrays, write_npz_atomic
from .trufor_npz_hook import TruForNpzHook

__all__ = ['ForgeryLocalizationMetric', 'ForgeryHeatmapHook', 'TruForNpzHook', 'functional',
           'probability_map', 'trufor_npz_arrays', 'write_npz_atomic']
