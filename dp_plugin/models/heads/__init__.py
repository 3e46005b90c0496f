"""Decode and detection heads of dp_plugin."""
from .all_mlp_head import AllMLPHead
from .conf_pool_detection_head import ConfPoolDetectionHead, weighted_statistics_pooling
from .confidence_head import ConfidenceHead

__all__ = ['AllMLPHead', 'ConfidenceHead', 'ConfPoolDetectionHead',
           'weighted_statistics_pooling']
