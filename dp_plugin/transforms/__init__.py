"""Data transforms for forgery localization."""
from .load_forgery_annotation import LoadForgeryAnnotation
from .random_crop_pad import RandomCropPad
from .random_jpeg_compression import RandomJPEGCompression
from .random_rescale import RandomRescale

#: ``PackSegInputs(meta_keys=FORGERY_META_KEYS)`` keeps what the grouped metric needs.
FORGERY_META_KEYS = ('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape',
                     'scale_factor', 'flip', 'flip_direction', 'reduce_zero_label',
                     'generator', 'mask_type', 'label')

__all__ = ['LoadForgeryAnnotation', 'RandomCropPad', 'RandomJPEGCompression',
           'RandomRescale', 'FORGERY_META_KEYS']
