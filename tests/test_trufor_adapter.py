"""Native TruFor with each modality/adapter, and the upstream-TruFor patch.

The patch is duck-typed on upstream attribute names (``dncnn``,
``backbone.extra_patch_embed1``); dp_plugin's TruFor exposes the same names, so it
stands in for the upstream model here.
"""
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from dp_plugin.adapters.trufor import TruForModalitySlot, patch_trufor, patch_trufor_from_cfg
from dp_plugin.modalities import DiffusionPrint
from dp_plugin.registry import MODELS

DIMS = [8, 16, 40, 64]
DP = dict(type='DiffusionPrint', depth=4, width=16)  # small DnCNN: fast CPU tests
# A cheap stand-in for upstream's tiled Noiseprint++: a small DnCNN with 3 output channels.
UPSTREAM_LIKE = dict(type='DiffusionPrint', depth=3, width=8, out_channels=3)


def build(modality=None, adapter=None, phase='localization', heads=True):
    head = dict(in_channels=DIMS, in_index=[0, 1, 2, 3], channels=16)
    cfg = dict(type='TruFor',
               backbone=dict(type='DualMixVisionTransformer', embed_dims=8,
                             num_layers=[1, 1, 1, 1], num_heads=[1, 2, 5, 8]),
               decode_head=dict(type='AllMLPHead', num_classes=2,
                                loss_decode=dict(type='ForgeryDiceLoss'), **head),
               modality=modality or dict(type='NoisePrintPP', tile_to_3=True),
               adapter=adapter, phase=phase)
    if heads:
        cfg.update(conf_head=dict(type='ConfidenceHead', **head),
                   detection_head=dict(type='ConfPoolDetectionHead'))
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def batch(n=2, size=32):
    torch.manual_seed(0)
    x = torch.rand(n, 3, size, size) * 255
    samples = []
    for i in range(n):
        gt = torch.zeros(1, size, size, dtype=torch.long)
        gt[:, 4:20, 8:24] = i % 2
        s = SegDataSample(gt_sem_seg=PixelData(data=gt))
        s.set_metainfo(dict(ori_shape=(size, size), img_shape=(size, size)))
        samples.append(s)
    return x, samples


def _grads(module):
    return [p.grad for p in module.parameters()]


@pytest.mark.parametrize('modality,adapter,extra_in', [
    (dict(type='NoisePrintPP', tile_to_3=True), None, 3),
    (DP, 'simple', 3),
    (DP, 'deep', 3),
    (DP, 'widen', 64),
])
def test_native_variants_forward_shapes_and_frozen_extractor(modality, adapter, extra_in):
    model = build(modality, adapter)
    assert model.backbone.extra_patch_embed1.projection.in_channels == extra_in
    model.train()
    assert not model.dncnn.training and model.dncnn is model.modality
    assert not any(p.requires_grad for p in model.modality.parameters())
    x, samples = batch()
    before = {k: v.clone() for k, v in model.modality.state_dict().items()}
    losses = model.loss(x, samples)
    losses['decode.loss_dice'].backward()
    for k, v in model.modality.state_dict().items():   # BN statistics untouched
        torch.testing.assert_close(v, before[k])
    assert all(g is None for g in _grads(model.modality))
    if model.modality_adapter is not None:
        assert all(g is not None for g in _grads(model.modality_adapter))
    out = model._forward(x)
    assert out['seg'].shape == (2, 2, 32, 32) and out['conf'].shape == (2, 1, 32, 32)
    assert out['det'].shape == (2,)
    with torch.no_grad():
        pred = model.eval().predict(x[:1])[0]
    assert pred.modality_key == ('np++' if adapter is None else 'diffusionprint_l2')


def test_confidence_phase_trains_only_conf_and_detection():
    model = build(DP, 'simple', phase='confidence')
    model.train()
    assert not model.backbone.training and not model.decode_head.training
    assert model.conf_head.training
    x, samples = batch()
    losses = model.loss(x, samples)
    assert set(losses) == {'loss_conf', 'loss_det'}
    sum(losses.values()).backward()
    assert all(g is None for g in _grads(model.backbone) + _grads(model.decode_head)
               + _grads(model.modality_adapter))
    assert all(g is not None for g in _grads(model.conf_head))
    assert all(g is not None for g in _grads(model.detection_head))
    with pytest.raises(ValueError, match='conf_head'):
        build(phase='confidence', heads=False)


def test_predict_outputs():
    model = build(DP, 'deep').eval()
    x, samples = batch(1, 32)
    samples[0].set_metainfo(dict(ori_shape=(28, 30)))
    with torch.no_grad():
        out = model.predict(x, samples)[0]
    assert out.seg_logits.data.shape == (2, 28, 30)
    assert out.pred_conf.data.shape == (1, 28, 30)
    assert 0 <= out.pred_conf.data.min() and out.pred_conf.data.max() <= 1
    assert out.pred_score.shape == (1,) and 0 < float(out.pred_score) < 1
    assert out.pred_modality.data.shape == (1, 28, 30)
    assert out.modality_key == 'diffusionprint_l2'


class _Wrapper(nn.Module):  # like upstream's DataParallel(FullModel(model))
    def __init__(self, model):
        super().__init__()
        self.module = model


@pytest.mark.parametrize('adapter', ['simple', 'deep', 'widen'])
def test_upstream_patch_on_a_model_with_upstream_names(adapter):
    model = build(UPSTREAM_LIKE)                        # 3-channel noise stream
    old_conv = model.backbone.extra_patch_embed1.projection.weight.detach().clone()
    dp = DiffusionPrint(depth=4, width=16)
    params = patch_trufor(_Wrapper(model), adapter=adapter, modality=dp)
    assert isinstance(model.dncnn, TruForModalitySlot) and model.dncnn.modality is dp
    embed = model.backbone.extra_patch_embed1
    if adapter == 'widen':
        assert embed.projection.in_channels == 64
        assert [id(p) for p in params] == [id(p) for p in embed.projection.parameters()]
        torch.testing.assert_close(embed.projection.weight.sum(1), old_conv.sum(1))
    else:
        assert [id(p) for p in params] == [id(p) for p in embed.dp_adapter.parameters()]
        assert embed.projection.in_channels == 3
    assert all(p.requires_grad for p in params)
    model.train()
    model.dncnn.eval()                                   # upstream FIX_MODULES call
    x, samples = batch()
    losses = model.loss(x, samples)
    losses['decode.loss_dice'].backward()
    assert all(p.grad is not None for p in params)
    assert not model.dncnn.training and all(g is None for g in _grads(dp))
    keys = set(model.state_dict())
    # upstream: 'dncnn.modality.dncnn.*'; here 'dncnn' is an alias of 'modality'
    assert 'modalities.0.modality.dncnn.3.weight' in keys
    if adapter != 'widen':
        assert 'backbone.extra.layers.0.0.dp_adapter.layers.0.weight' in keys
    with pytest.raises(RuntimeError, match='already patched'):
        patch_trufor(model, adapter=adapter, modality=DiffusionPrint(depth=4, width=16))


def test_patch_rescales_upstream_input_and_reads_yacs_keys(tmp_path):
    dp = DiffusionPrint().eval()
    slot = TruForModalitySlot(dp, input_divisor=256.0)
    x = torch.randint(0, 256, (1, 3, 16, 16)).float()
    torch.testing.assert_close(slot(x / 256), dp(x / 255))
    weights = tmp_path / 'dp.pth'
    torch.save(dp.dncnn.state_dict(), weights)

    class Node(dict):
        __getattr__ = dict.__getitem__

    model = build(UPSTREAM_LIKE)
    cfg = Node(MODEL=Node(EXTRA=Node(DP_WEIGHTS='', DP_ADAPTER='deep')))
    assert patch_trufor_from_cfg(model, cfg) == []
    assert not isinstance(model.dncnn, TruForModalitySlot)
    cfg.MODEL.EXTRA['DP_WEIGHTS'] = str(weights)
    assert len(patch_trufor_from_cfg(model, cfg)) == 5  # conv, BN w/b, conv w/b
    torch.testing.assert_close(model.dncnn.modality.dncnn[47].weight, dp.dncnn[47].weight)
    with pytest.raises(TypeError, match='TruFor'):
        patch_trufor(nn.Linear(2, 2), modality=DiffusionPrint(depth=4, width=16))


@pytest.mark.parametrize('phase', ['localization', 'confidence'])
def test_optimizer_from_the_config_covers_the_trainable_set(phase):
    model = build(DP, 'deep', phase=phase)
    cfg = Config.fromfile('configs/_base_/schedules/trufor_sgd.py')
    groups = build_optim_wrapper(model, cfg.optim_wrapper).optimizer.param_groups
    decay = {id(p): g['weight_decay'] for g in groups for p in g['params']}
    trainable = {id(p): n for n, p in model.named_parameters() if p.requires_grad}
    assert set(decay) == set(trainable), sorted(set(trainable.values()) - set(
        n for i, n in trainable.items() if i in decay))
    if phase == 'localization':   # the adapter's raw parameters train with weight decay
        adapter = [p for n, p in model.named_parameters() if 'modality_adapter' in n
                   and n.endswith('weight') and p.dim() == 4]
        assert adapter and all(decay[id(p)] == pytest.approx(5e-4) for p in adapter)
    norms = [m.weight for m in model.modules()
             if isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)) and m.weight.requires_grad]
    biases = [p for n, p in model.named_parameters() if p.requires_grad and n.endswith('.bias')]
    assert norms and all(decay[id(w)] == 0.0 for w in norms + biases)

