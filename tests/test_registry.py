import torch
from mmengine.config import ConfigDict
from mmengine.registry import init_default_scope

import dp_plugin
from dp_plugin import build_modality
from dp_plugin.registry import MODALITIES, MODELS


def test_every_modality_builds_by_config():
    for name, channels in [('DiffusionPrint', 64), ('NoisePrintPP', 1), ('SRM', 3), ('Bayar', 3)]:
        modality = build_modality(dict(type=name))
        out = modality(torch.rand(2, 3, 24, 20))
        assert out.shape == (2, channels, 24, 20)
        assert modality.out_channels == channels
        assert name in MODALITIES


def test_mmseg_types_reachable_from_dp_plugin_scope():
    init_default_scope('dp_plugin')
    model = MODELS.build(ConfigDict(
        type='EncoderDecoder', data_preprocessor=dict(type='SegDataPreProcessor'),
        backbone=dict(type='MixVisionTransformer', embed_dims=8, num_layers=[1, 1, 1, 1],
                      num_heads=[1, 1, 1, 1]),
        decode_head=dict(type='SegformerHead', in_channels=[8, 16, 40, 64],
                         in_index=[0, 1, 2, 3], channels=16, num_classes=2,
                         loss_decode=dict(type='CrossEntropyLoss'))))
    assert model.decode_head.num_classes == 2
    assert dp_plugin.__version__
