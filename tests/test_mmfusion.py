"""MMFusion: any modality list, 64/1-channel side by side, optimizer coverage, phases,
upstream checkpoint conversion and the upstream patch (adapters.mmfusion)."""

import glob

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import dp_plugin  # noqa: F401  (registers everything)
from dp_plugin.adapters.mmfusion import UpstreamInputSlot, swap_noiseprint_for_diffusionprint
from dp_plugin.modalities import SRM, Bayar, DiffusionPrint, DnCNN, NoisePrintPP
from dp_plugin.models.converters.mit_keys import mmseg_to_segformer
from dp_plugin.registry import MODELS

SIZE = 64
WIDTHS = [32, 64, 160, 256]  # MiT-B0


def small_npp(tile_to_3: bool = True) -> NoisePrintPP:
    """Noiseprint++ (class, slot, 1-channel output, /256 input) with a small DnCNN."""
    npp = NoisePrintPP(tile_to_3=tile_to_3)
    npp.dncnn = DnCNN(3, 1, depth=3, width=8)
    return npp.freeze()


def small_dp() -> DiffusionPrint:
    return DiffusionPrint(depth=3, width=8, out_channels=64)


def make(modalities, backbone='EarlyFusionDualMiT', phase='localization', **bb):
    mult = len(modalities) if backbone == 'LateFusionMultiMiT' else 1
    widths = [w * mult for w in WIDTHS]
    head = dict(in_channels=widths, in_index=[0, 1, 2, 3], channels=32)
    cfg = dict(
        type='MMFusion', modalities=modalities, phase=phase,
        data_preprocessor=dict(type='SegDataPreProcessor', mean=None, std=None,
                               bgr_to_rgb=True),
        backbone=dict(type=backbone, embed_dims=32, num_layers=[1, 1, 1, 1],
                      drop_path_rate=0.0, **bb),
        decode_head=dict(type='AllMLPHead', num_classes=2,
                         loss_decode=dict(type='ForgeryDiceLoss'), **head),
        conf_head=dict(type='ConfidenceHead', **head),
        detection_head=dict(type='ConfPoolDetectionHead'))
    return MODELS.build(cfg)


def batch(n=2, forged=(1, 0)):
    torch.manual_seed(1)
    inputs = torch.rand(n, 3, SIZE, SIZE) * 255
    samples = []
    for i in range(n):
        mask = torch.zeros(1, SIZE, SIZE, dtype=torch.long)
        if forged[i % len(forged)]:
            mask[:, 16:40, 20:48] = 1
        s = SegDataSample(metainfo=dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE),
                                        label=int(forged[i % len(forged)])))
        s.gt_sem_seg = PixelData(data=mask)
        samples.append(s)
    return inputs, samples


@pytest.mark.parametrize('modalities,slots', [
    ([dict(type='SRM')], ['srm']),
    ([dict(type='Bayar'), dict(type='DiffusionPrint', depth=3, width=8)], ['bayar', 'diffusionprint']),
    ([dict(type='SRM'), dict(type='DiffusionPrint', depth=3, width=8), dict(type='Bayar'),
      dict(type='SRM')], ['srm', 'diffusionprint', 'bayar', 'srm_2']),
])
def test_any_modality_list_builds_and_runs(modalities, slots):
    model = make(modalities).eval()
    assert model.modal_extractor.slots == slots
    built = list(model.modal_extractor.values())
    assert [b.in_channels for b in model.backbone.modal_mix.blocks] == \
        [m.out_channels for m in built]
    assert model.backbone.patch_embed_residual == (len(modalities) > 1)  # as upstream
    out = model._forward(batch()[0])
    assert out['seg'].shape == (2, 2, SIZE, SIZE) and out['conf'].shape == (2, 1, SIZE, SIZE)
    assert out['det'].shape == (2,) and torch.isfinite(out['seg']).all()


def test_64_and_1_channel_modalities_side_by_side_train_their_own_blocks():
    model = make([small_dp(), small_npp(tile_to_3=False), dict(type='SRM')])
    assert model.modal_extractor.out_channels == [64, 1, 3]
    blocks = model.backbone.modal_mix.blocks
    assert [b.convs[0][0].weight.shape[1] for b in blocks] == [64, 1, 3]
    assert model.modal_extractor.noiseprint is model.modalities[1]
    inputs, samples = batch(1)
    losses = model.loss(inputs, samples)
    sum(v for k, v in losses.items() if k.startswith('decode.loss')).backward()
    for block in blocks:
        assert block.convs[0][0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='modality 0: expected'):
        model.backbone(torch.zeros(1, 3, SIZE, SIZE),
                       [torch.zeros(1, 3, SIZE, SIZE), torch.zeros(1, 1, SIZE, SIZE),
                        torch.zeros(1, 3, SIZE, SIZE)])


def test_late_fusion_gives_each_modality_its_own_stream():
    model = make([small_dp(), dict(type='SRM')], backbone='LateFusionMultiMiT').eval()
    assert model.backbone.out_channels == [2 * w for w in WIDTHS]
    first = [s.layers[0][0].projection for s in model.backbone.extra]
    assert [c.in_channels for c in first] == [64, 3]  # DiffusionPrint enters at 64 channels
    out = model._forward(batch()[0])
    assert out['seg'].shape == (2, 2, SIZE, SIZE)


def test_mixed_config_errors_are_clear():
    with pytest.raises(ValueError, match='non-empty list'):
        make([])
    with pytest.raises(ValueError, match='modal_channels'):
        make([dict(type='SRM')], modal_channels=[64])
    with pytest.raises(FileNotFoundError, match='DiffusionPrint checkpoint not found'):
        make([dict(type='DiffusionPrint', checkpoint='missing.safetensors')])


def _optimizer_params(model, phase_cfg='configs/_base_/schedules/mmfusion_sgd.py'):
    cfg = Config.fromfile(phase_cfg)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    groups = wrapper.optimizer.param_groups
    return {id(p): g['weight_decay'] for g in groups for p in g['params']}


def test_every_trainable_parameter_reaches_the_optimizer_built_from_the_config():
    model = make([small_dp(), small_npp(), dict(type='Bayar'), dict(type='SRM')])
    in_optimizer = _optimizer_params(model)
    trainable = {id(p): n for n, p in model.named_parameters() if p.requires_grad}
    assert set(in_optimizer) == set(trainable), \
        [trainable[i] for i in set(trainable) - set(in_optimizer)]  # frozen ones left out
    kernel = model.modal_extractor.bayar.kernel
    assert kernel.requires_grad and in_optimizer[id(kernel)] == pytest.approx(5e-4)
    norms = [m.weight for m in model.modules()
             if isinstance(m, (nn.LayerNorm, nn.BatchNorm2d)) and m.weight.requires_grad]
    assert len(norms) > 40 and all(in_optimizer[id(w)] == 0.0 for w in norms)
    assert not any(p.requires_grad for p in model.modal_extractor.diffusionprint.parameters())


def test_detection_phase_trains_only_the_confidence_and_detection_heads():
    model = make([small_dp(), dict(type='Bayar')], phase='detection')
    trainable = {n.split('.')[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {'conf_head', 'detection'}
    assert set(_optimizer_params(model)) == {id(p) for p in model.parameters()
                                             if p.requires_grad}
    with pytest.raises(ValueError, match='configure both'):
        MODELS.build(dict(type='MMFusion', modalities=[dict(type='SRM')], phase='detection',
                          backbone=dict(type='EarlyFusionDualMiT'),
                          decode_head=dict(type='AllMLPHead', in_channels=WIDTHS,
                                           in_index=[0, 1, 2, 3], channels=8, num_classes=2)))


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize('phase', ['localization', 'detection'])
def test_frozen_parts_stay_frozen_through_a_training_step(phase):
    model = make([small_dp(), small_npp(), dict(type='Bayar'), dict(type='SRM')], phase=phase)
    cfg = Config.fromfile('configs/_base_/schedules/mmfusion_sgd.py').optim_wrapper
    cfg.accumulative_counts = 1  # step at every call
    wrapper = build_optim_wrapper(model, cfg)
    frozen = ['modal_extractor.diffusionprint', 'modal_extractor.noiseprint',
              'modal_extractor.srm']
    if phase == 'detection':
        frozen += ['modal_extractor.bayar', 'backbone', 'decode_head']
    before = {name: _snapshot(model.get_submodule(name)) for name in frozen}
    bayar = model.modal_extractor.bayar.kernel.detach().clone()
    heads = _snapshot(model.conf_head)
    model.train()
    inputs, samples = batch(1)
    losses = model.loss(inputs, samples)
    wrapper.update_params(sum(v for k, v in losses.items() if 'loss' in k))
    for name in frozen:
        module = model.get_submodule(name)
        assert not any(m.training for m in module.modules()), name
        assert all(p.grad is None for p in module.parameters()), name
        after = _snapshot(module)
        assert all(torch.equal(before[name][k], after[k]) for k in after), name  # BN stats too
    changed_bayar = not torch.equal(bayar, model.modal_extractor.bayar.kernel)
    changed_heads = any(not torch.equal(heads[k], v)
                        for k, v in _snapshot(model.conf_head).items())
    assert changed_bayar == (phase == 'localization')
    assert changed_heads == (phase == 'detection')


def test_prediction_carries_confidence_and_score_in_the_detection_phase():
    model = make([small_dp()], phase='detection').eval()
    inputs, samples = batch()
    preds = model.predict(inputs, samples)
    assert preds[0].seg_logits.data.shape == (2, SIZE, SIZE)
    conf, score = preds[0].pred_conf.data, preds[0].pred_score
    assert conf.shape == (1, SIZE, SIZE) and 0 <= conf.min() <= conf.max() <= 1
    assert score.shape == (1,) and 0 <= float(score) <= 1
    loc = make([small_dp()]).eval().predict(*batch())
    assert 'pred_score' not in loc[0] and 'pred_conf' not in loc[0]


# ---------------------------------------------------------------------------- upstream
def _head_to_upstream(sd):
    out = {}
    for k, v in sd.items():
        if k.startswith('convs.'):
            i, _, p = k.split('.')[1:]
            out[f'linear_c{int(i) + 1}.proj.{p}'] = v[:, :, 0, 0] if p == 'weight' else v
        elif k.startswith('fusion_conv.conv.weight'):
            out['linear_fuse.conv.weight'] = v  # upstream: no bias
        elif k.startswith('fusion_conv.bn.'):
            out['linear_fuse.bn.' + k[len('fusion_conv.bn.'):]] = v
        elif k.startswith('conv_seg.'):
            out['linear_pred.' + k[len('conv_seg.'):]] = v
    return out


def write_upstream_checkpoint(path, model, phase2=False):
    """Write ``model``'s weights in MMFusion's layout, key names spelled as upstream's."""
    def rand(key, v):  # valid random values: positive BN variances and Bayar taps
        if not v.is_floating_point():
            return v
        if key.endswith(('running_var', 'bayar.kernel')):
            return torch.rand_like(v) + 0.5
        return 0.2 * torch.randn_like(v)

    sd = {k: rand(k, v) for k, v in model.state_dict().items()}
    sd = {k: v for k, v in sd.items() if not k.endswith('fusion_conv.conv.bias')}
    up = {}
    rgb = {k[len('backbone.rgb.'):]: v for k, v in sd.items() if k.startswith('backbone.rgb.')}
    up.update({'backbone.' + k: v for k, v in mmseg_to_segformer(rgb).items()})
    extra = {k[len('backbone.extra.'):]: v for k, v in sd.items()
             if k.startswith('backbone.extra.')}
    for k, v in mmseg_to_segformer(extra, 'extra_').items():
        if k.startswith('extra_patch_embed'):
            stage, part, p = int(k[len('extra_patch_embed')]), *k.split('.')[1:]
            inner = 'proj.module' if part == 'proj' else 'norm.ln_0'
            k = f'extra_downsample_layers.{stage - 1}.{inner}.{p}'
        up['backbone.' + k] = v
    for k, v in sd.items():
        if k.startswith(('backbone.FRMs', 'backbone.FFMs', 'backbone.modal_mix')):
            up[k] = v
        elif k.startswith('detection.mlp.'):
            up['detection.' + k[len('detection.mlp.'):]] = v
    for head in ('decode_head', 'conf_head'):
        part = {k[len(head) + 1:]: v for k, v in sd.items() if k.startswith(head + '.')}
        up.update({f'{head}.{k}': v for k, v in _head_to_upstream(part).items()})
    ext = {}
    for k, v in sd.items():
        if k.startswith('modal_extractor.noiseprint.dncnn.'):
            ext['noiseprint.' + k[len('modal_extractor.noiseprint.dncnn.'):]] = v
        elif k in ('modal_extractor.bayar.kernel', 'modal_extractor.srm.filters'):
            ext[k[len('modal_extractor.'):]] = v
    fields = (dict(val_baCC=0.7, val_auc=0.8) if phase2 else
              dict(val_f1_best=0.6, val_f1_fixed=0.5))
    torch.save(dict(epoch=3, val_loss=0.4, state_dict=up, extractor_state_dict=ext, **fields),
               path)
    return up, ext


UPSTREAM_SET = [lambda: small_npp(), lambda: Bayar(), lambda: SRM()]


def test_converter_maps_an_upstream_checkpoint_onto_the_native_model(tmp_path):
    from tools.convert.mmfusion_to_dp import main
    ref = make([f() for f in UPSTREAM_SET], fusion_norm_cfg=dict(type='BN', eps=1e-3))
    up, ext = write_upstream_checkpoint(tmp_path / 'early_fusion_detection.pth', ref, True)
    assert 'backbone.extra_downsample_layers.0.norm.ln_0.weight' in up
    assert 'backbone.block1.0.attn.kv.weight' in up and 'noiseprint.5.bias' in ext  # small DnCNN (depth 3)
    main([str(tmp_path / 'early_fusion_detection.pth'), str(tmp_path / 'a.pth')])
    main([str(tmp_path / 'early_fusion_detection.pth'), str(tmp_path / 'b.pth'),
          '--order', 'srm', 'noiseprint', 'bayar'])
    a = torch.load(tmp_path / 'a.pth', weights_only=True)
    assert a['meta']['upstream_phase'] == 'detection'
    assert a['meta']['upstream_metrics']['val_auc'] == pytest.approx(0.8)
    sd = a['state_dict']
    torch.testing.assert_close(sd['backbone.extra.layers.0.0.norm.weight'],
                               up['backbone.extra_downsample_layers.0.norm.ln_0.weight'])
    torch.testing.assert_close(sd['backbone.extra.layers.2.0.projection.weight'],
                               up['backbone.extra_downsample_layers.2.proj.module.weight'])
    torch.testing.assert_close(sd['decode_head.convs.0.conv.weight'][:, :, 0, 0],
                               up['decode_head.linear_c1.proj.weight'])
    assert not sd['conf_head.fusion_conv.conv.bias'].any()
    torch.testing.assert_close(sd['detection.mlp.3.bias'], up['detection.3.bias'])
    torch.testing.assert_close(sd['modal_extractor.noiseprint.dncnn.5.weight'],
                               ext['noiseprint.5.weight'])
    torch.testing.assert_close(sd['modal_extractor.bayar.kernel'], ext['bayar.kernel'])
    # the native model loads it strictly; reordered modalities give the same function
    model_a = make([f() for f in UPSTREAM_SET]).eval()
    model_a.load_state_dict(sd, strict=True)
    reorder = [UPSTREAM_SET[2], UPSTREAM_SET[0], UPSTREAM_SET[1]]
    model_b = make([f() for f in reorder]).eval()
    model_b.load_state_dict(torch.load(tmp_path / 'b.pth', weights_only=True)['state_dict'],
                            strict=True)
    torch.testing.assert_close(model_b.backbone.modal_mix.blocks[0].final.weight,
                               up['backbone.modal_mix.blocks.2.final.weight'])
    inputs = batch()[0]
    out_a, out_b = model_a._forward(inputs), model_b._forward(inputs)
    for key in ('seg', 'conf', 'det'):
        torch.testing.assert_close(out_a[key], out_b[key], rtol=1e-4, atol=1e-4)


def test_converter_maps_late_fusion_streams_and_reorders_them(tmp_path):
    from dp_plugin.models.converters.mmfusion_checkpoint import upstream_to_native
    torch.manual_seed(0)
    ref = make([small_npp(), dict(type='SRM')], backbone='LateFusionMultiMiT')
    sd = {k: (torch.rand_like(v) + 0.5 if k.endswith('running_var') else
              0.2 * torch.randn_like(v)) if v.is_floating_point() else v
          for k, v in ref.state_dict().items() if not k.endswith('fusion_conv.conv.bias')}
    up = {'backbone.' + k: v for k, v in mmseg_to_segformer(
        {k[13:]: v for k, v in sd.items() if k.startswith('backbone.rgb.')}).items()}
    for m in range(2):
        stream = {k[len(f'backbone.extra.{m}.'):]: v for k, v in sd.items()
                  if k.startswith(f'backbone.extra.{m}.')}
        up.update({'backbone.' + k: v
                   for k, v in mmseg_to_segformer(stream, f'extra.{m}.').items()})
        for kind in ('FRMs', 'FFMs'):
            prefix = f'backbone.{kind}.{m}.'
            up.update({f'backbone.extra.{m}.{kind}.' + k[len(prefix):]: v
                       for k, v in sd.items() if k.startswith(prefix)})
    for head in ('decode_head', 'conf_head'):
        part = {k[len(head) + 1:]: v for k, v in sd.items() if k.startswith(head + '.')}
        up.update({f'{head}.{k}': v for k, v in _head_to_upstream(part).items()})
    up.update({'detection.' + k[len('detection.mlp.'):]: v for k, v in sd.items()
               if k.startswith('detection.mlp.')})
    ext = {'noiseprint.' + k[len('modal_extractor.noiseprint.dncnn.'):]: v
           for k, v in sd.items() if k.startswith('modal_extractor.noiseprint.dncnn.')}
    ext['srm.filters'] = sd['modal_extractor.srm.filters']
    assert 'backbone.extra.1.FFMs.0.cross.channel_proj1.weight' in up  # upstream's key form
    model_a = make([small_npp(), dict(type='SRM')], backbone='LateFusionMultiMiT').eval()
    model_a.load_state_dict(upstream_to_native(up, ext), strict=True)
    model_b = make([dict(type='SRM'), small_npp()], backbone='LateFusionMultiMiT').eval()
    model_b.load_state_dict(upstream_to_native(up, ext, order=['srm', 'noiseprint']),
                            strict=True)
    torch.testing.assert_close(model_b.backbone.extra[1].layers[0][0].projection.weight,
                               up['backbone.extra.0.patch_embed1.proj.weight'])
    # the concatenation order changes, so compare each stream's fused maps
    inputs = batch(1)[0]
    rgb = model_a.normalize_rgb(inputs)
    maps = model_a.extract_modalities(inputs)
    out_a = model_a.backbone(rgb, maps)
    out_b = model_b.backbone(rgb, maps[::-1])
    for fa, fb, w in zip(out_a, out_b, WIDTHS):
        torch.testing.assert_close(fa[:, :w], fb[:, w:], rtol=1e-4, atol=1e-4)


def test_converter_rejects_what_it_cannot_map(tmp_path):
    from tools.convert.mmfusion_to_dp import main
    ref = make([f() for f in UPSTREAM_SET])
    up, ext = write_upstream_checkpoint(tmp_path / 'x.pth', ref)
    torch.save(dict(state_dict=up), tmp_path / 'no_ext.pth')
    with pytest.raises(SystemExit, match='extractor_state_dict'):
        main([str(tmp_path / 'no_ext.pth'), str(tmp_path / 'o.pth')])
    torch.save(dict(state_dict=dict(up, **{'backbone.mystery.weight': torch.zeros(1)}),
                    extractor_state_dict=ext), tmp_path / 'extra_key.pth')
    with pytest.raises(SystemExit, match='no mapping'):
        main([str(tmp_path / 'extra_key.pth'), str(tmp_path / 'o.pth')])
    with pytest.raises(SystemExit, match='order'):
        main([str(tmp_path / 'x.pth'), str(tmp_path / 'o.pth'), '--order', 'srm', 'bayar'])
    assert not (tmp_path / 'o.pth').exists()


class UpstreamLikeExtractor(nn.Module):
    """Behaves as upstream's ModalitiesExtractor: attributes noiseprint/bayar/srm, fixed
    order, 1-channel maps tiled to 3, inputs uint8 / 256."""

    def __init__(self):
        super().__init__()
        self.noiseprint = DnCNN(3, 1, depth=3, width=8).eval().requires_grad_(False)
        self.bayar = nn.Conv2d(3, 3, 5, padding=2, bias=False)
        self.srm = nn.Conv2d(3, 3, 5, padding=2, bias=False).requires_grad_(False)

    def forward(self, x):
        maps = [self.noiseprint(x), self.bayar(x), self.srm(x)]
        return [torch.tile(y, (3, 1, 1)) if y.size()[-3] == 1 else y for y in maps]


def test_upstream_patch_swaps_noiseprint_and_widens_only_its_block():
    model = make([small_npp(), dict(type='Bayar'), dict(type='SRM')]).eval()
    extractor = UpstreamLikeExtractor()
    before = _snapshot(model)
    patch = swap_noiseprint_for_diffusionprint(extractor, model, small_dp())
    assert patch.block_index == 0 and isinstance(extractor.noiseprint, UpstreamInputSlot)
    assert patch.dropped_keys == ['backbone.modal_mix.blocks.0.convs.0.0.weight']
    assert set(patch.trainable) == {'backbone.modal_mix.blocks.0.' + n
                                    for n, _ in patch.block.named_parameters()}
    after = model.state_dict()
    changed = {k for k in before if k not in after or before[k].shape != after[k].shape
               or not torch.equal(before[k], after[k])}
    assert changed == set(patch.dropped_keys)  # every other weight kept, incl. the block's
    x = torch.rand(2, 3, SIZE, SIZE) * 255 / 256  # upstream scaling
    maps = extractor(x)
    assert [m.shape[1] for m in maps] == [64, 3, 3]  # 64 channels pass the tiling untiled
    torch.testing.assert_close(maps[0], patch.diffusionprint(x * 256 / 255))
    out = model.backbone((x - 0.45) / 0.225, maps)
    assert [o.shape[1] for o in out] == WIDTHS
    extractor.train()
    assert not patch.diffusionprint.training
    assert not any(p.requires_grad for p in patch.diffusionprint.parameters())


def test_upstream_patch_on_the_native_model_keeps_slot_names_and_trains():
    model = make([dict(type='SRM'), small_npp(), dict(type='Bayar')])
    patch = swap_noiseprint_for_diffusionprint(model.modal_extractor, model, small_dp(),
                                               input_divisor=255)
    assert patch.block_index == 1
    assert model.modal_extractor.slots == ['srm', 'noiseprint', 'bayar']
    assert model.modal_extractor.noiseprint is patch.diffusionprint
    assert model.backbone.modal_mix.blocks[1].in_channels == 64
    inputs, samples = batch(1)
    losses = model.loss(inputs, samples)
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert all(p.grad is not None for p in patch.trainable.values())
    in_optimizer = _optimizer_params(model)
    assert {id(p) for p in patch.trainable.values()} <= set(in_optimizer)


def test_upstream_patch_refuses_models_without_the_early_mixer():
    late = make([small_npp(), dict(type='SRM')], backbone='LateFusionMultiMiT')
    with pytest.raises(AttributeError, match='early-fusion'):
        swap_noiseprint_for_diffusionprint(late.modal_extractor, late, small_dp())
    model = make([dict(type='SRM')])
    with pytest.raises(AttributeError, match='noiseprint'):
        swap_noiseprint_for_diffusionprint(model.modal_extractor, model, small_dp())


@pytest.mark.parametrize('path', sorted(glob.glob('configs/mmfusion/*.py')))
def test_configs_carry_the_mmfusion_losses(path):
    model = Config.fromfile(path).model
    ce, dice = model.decode_head.loss_decode   # 0.3 wCE + 0.7 Dice with exponent 1
    assert (ce.type, ce.loss_weight, list(ce.class_weight)) == (
        'ForgeryCrossEntropyLoss', 0.3, [0.5, 2.5])
    assert (dice.type, dice.loss_weight, dice.exponent) == ('ForgeryDiceLoss', 0.7, 1)
    assert (model.loss_conf.erode, model.loss_conf.dilate) == (1, 1)   # TCP without a band
