import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import dp_plugin  # noqa: F401
from dp_plugin.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CFG_DIR = osp.join(REPO, 'configs', 'lite_baseline')
PAPER_CFG = 'lite-baseline_mit-b2_{}_tgif-512x512.py'
TINY_CFG = 'lite-baseline_mit-b0-tiny_{}_sim-128x128.py'


def build(cfg_name, **modality):
    cfg = Config.fromfile(osp.join(CFG_DIR, cfg_name))
    if modality:
        cfg.model.modality = ConfigDict(modality)
    with DefaultScope.overwrite_default_scope('dp_plugin'):
        return MODELS.build(cfg.model)


def samples(n, size, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=(torch.rand(1, size, size, generator=g) > 0.7).long())
        s.set_metainfo(dict(img_shape=(size, size), ori_shape=(size, size)))
        out.append(s)
    return out


def n_params(module, trainable=None):
    return sum(p.numel() for p in module.parameters()
               if trainable is None or p.requires_grad == trainable)


def test_paper_model_parameter_count():
    # Paper §5.1/§8: "approximately 36M parameters". This implementation, with a
    # 64-channel DiffusionPrint: MiT-B2 24,196,288 + residual encoder 7,888,960 +
    # fusion 772,096 + 768-channel SegFormer head 3,154,946 = 36,012,290 trainable,
    # plus the frozen 17x64 DnCNN (593,600). With SRM (3 channels): 35,994,722.
    dp = build(PAPER_CFG.format('diffusionprint'), type='DiffusionPrint', checkpoint=None)
    assert n_params(dp, trainable=True) == 36_012_290
    assert n_params(dp.backbone) == 24_196_288
    assert n_params(dp.forensic_encoder) == 7_888_960
    assert n_params(dp.modality) == n_params(dp, trainable=False) == 593_600


def test_feature_shapes_at_each_scale():
    model = build(TINY_CFG.format('srm')).eval()
    x = torch.rand(2, 3, 96, 80) * 255
    with torch.no_grad():
        rgb = model.backbone(model.normalize_rgb(x))
        forensic = model.forensic_encoder(model.extract_modalities(x))
        fused = model.extract_feat(x)
        logits = model._forward(x)
    for i, stride in enumerate((4, 8, 16, 32)):
        hw = (-(-96 // stride), -(-80 // stride))
        assert tuple(rgb[i].shape[-2:]) == hw == tuple(forensic[i].shape[-2:])
        assert forensic[i].shape[1] == (32, 64, 160, 256)[i]
        assert fused[i].shape[1] == rgb[i].shape[1]
    assert logits.shape == (2, 2, 24, 20)


def test_modality_frozen_through_a_training_step():
    model = build(TINY_CFG.format('diffusionprint'), type='DiffusionPrint', checkpoint=None,
                  depth=4, width=8, out_channels=8, frozen=False)  # frozen anyway by the model
    model.train()
    assert not model.modality.training
    before = {k: v.clone() for k, v in model.modality.state_dict().items()}
    other = {k: v.clone() for k, v in model.forensic_encoder.state_dict().items()}
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    x = torch.rand(2, 3, 64, 64) * 255
    losses = model.loss(x, samples(2, 64))
    assert set(losses) >= {'decode.loss_ce', 'decode.loss_dice'}
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    opt.step()
    assert all(p.grad is None for p in model.modality.parameters())
    for k, v in model.modality.state_dict().items():
        assert torch.equal(v, before[k]), k  # weights and BN running stats unchanged
    assert any(not torch.equal(v, other[k]) for k, v in model.forensic_encoder.state_dict().items())


def test_modality_sees_raw_pixels_rgb_stream_imagenet():
    model = build(TINY_CFG.format('srm')).eval()
    seen = {}
    model.modality.register_forward_pre_hook(lambda m, a: seen.__setitem__('mod', a[0]))
    model.backbone.register_forward_pre_hook(lambda m, a: seen.__setitem__('rgb', a[0]))
    x = torch.full((1, 3, 64, 64), 255.0)
    with torch.no_grad():
        model.extract_feat(x)
    assert torch.allclose(seen['mod'], torch.ones_like(x))
    expected = (255.0 - torch.tensor([123.675, 116.28, 103.53])) / torch.tensor([58.395, 57.12, 57.375])
    assert torch.allclose(seen['rgb'][0, :, 0, 0], expected)


def test_clear_errors_for_bad_setup(tmp_path):
    cfg = Config.fromfile(osp.join(CFG_DIR, TINY_CFG.format('diffusionprint')))
    assert cfg.model.modality.checkpoint == osp.join(os.environ['DP_PLUGIN_HOME'],
                                                     'diffusionprint_tiny.safetensors')
    cfg.model.modality.checkpoint = str(tmp_path / 'pretrain_tiny' / 'diffusionprint.safetensors')
    with DefaultScope.overwrite_default_scope('dp_plugin'):
        with pytest.raises(FileNotFoundError, match='pretrain_tiny/diffusionprint.safetensors'):
            MODELS.build(cfg.model)
        cfg.model.modality.checkpoint = None
        cfg.model.data_preprocessor.mean = [0, 0, 0]
        with pytest.raises(ValueError, match='mean=None'):
            MODELS.build(cfg.model)
        cfg.model.data_preprocessor.mean = None
        cfg.model.rgb_pretrained = 'https://example.com/mit_b0.pth'
        with pytest.raises(ValueError, match='local file'):
            MODELS.build(cfg.model)


def test_rgb_pretrained_loads_official_segformer_keys(tmp_path):
    from dp_plugin.models.converters.rgb_weights import load_rgb_pretrained
    model = build(TINY_CFG.format('srm'))
    # An official-format (NVlabs) state dict: patch_embed1.proj.weight ...
    w = torch.randn(32, 3, 7, 7)
    sd = {'patch_embed1.proj.weight': w, 'patch_embed1.proj.bias': torch.zeros(32),
          'head.weight': torch.zeros(1000, 256)}
    path = tmp_path / 'mit.pth'
    torch.save({'state_dict': sd}, path)
    load_rgb_pretrained(model.backbone, str(path))
    assert torch.equal(model.backbone.layers[0][0].projection.weight, w)
    torch.save({'unrelated': torch.zeros(3)}, path)
    with pytest.raises(ValueError, match='not a MiT checkpoint'):
        load_rgb_pretrained(model.backbone, str(path))
    # a wider MiT (64 channels): same keys, no tensor fits
    torch.save({'patch_embed1.proj.weight': torch.randn(64, 3, 7, 7)}, path)
    with pytest.raises(ValueError, match='no tensor matches'):
        load_rgb_pretrained(model.backbone, str(path))


def test_noiseprint_variant_with_real_weights(noiseprint_weights):
    cfg = Config.fromfile(osp.join(CFG_DIR, TINY_CFG.format('noiseprintpp')))
    assert cfg.model.modality.checkpoint == '../shared/weights/noiseprint++/noiseprint++.th'
    model = build(TINY_CFG.format('noiseprintpp'), type='NoisePrintPP', checkpoint=noiseprint_weights)
    assert model.modality_channels == 1 and model.modality.pixel_divisor == 256
    assert n_params(model, trainable=False) == n_params(model.modality) > 0
    with torch.no_grad():
        assert model.eval()._forward(torch.rand(1, 3, 64, 64) * 255).shape == (1, 2, 16, 16)


def test_variants_differ_only_in_the_modality():
    for pattern in (PAPER_CFG, TINY_CFG):
        cfgs = [Config.fromfile(osp.join(CFG_DIR, pattern.format(v))).to_dict()
                for v in ('noiseprintpp', 'diffusionprint', 'srm')]
        for c in cfgs:
            c['model'].pop('modality')
        assert cfgs[0] == cfgs[1] == cfgs[2]
