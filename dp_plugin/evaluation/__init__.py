"""Forgery localization metrics and test-time visualisation."""
from . import functional
from .forgery_heatmap_hook import ForgeryHeatmapHook, heatmap_overlay
from .forgery_metric import ForgeryLocalizationMetric, probability_map

__all__ = ['ForgeryLocalizationMetric', 'ForgeryHeatmapHook', 'functional', 'heatmap_overlay',
           'probability_map']
