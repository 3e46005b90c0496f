"""Forgery localization metrics."""
from . import functional
from .forgery_metric import ForgeryLocalizationMetric, probability_map

__all__ = ['ForgeryLocalizationMetric', 'functional', 'probability_map']
