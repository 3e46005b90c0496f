"""Behaviour of the four modalities that users rely on."""
import copy
import textwrap

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from dp_plugin import build_modality
from dp_plugin.modalities import SRM, Bayar, DiffusionPrint, NoisePrintPP
from dp_plugin.modalities.srm import srm_kernels
from dp_plugin.registry import MODELS
from _helpers import random_dncnn


def trained_like(modality):
    """Give a DnCNN modality non-trivial BN statistics (as real weights have)."""
    src = random_dncnn(modality.out_channels if not getattr(modality, 'tile_to_3', False) else 1,
                       depth=modality.dncnn.depth, width=modality.dncnn.width)
    modality.dncnn.load_state_dict(src.state_dict())
    return modality


class _Parent(nn.Module):

    def __init__(self, modality):
        super().__init__()
        self.modality = modality
        self.head = nn.Conv2d(modality.out_channels, 2, 1)

    def forward(self, x):
        return self.head(self.modality(x))


@pytest.mark.parametrize('cfg', [dict(type='DiffusionPrint', depth=5, width=16),
                                 dict(type='NoisePrintPP'), dict(type='SRM')])
def test_frozen_guarantees(cfg):
    modality = build_modality(cfg)
    if hasattr(modality, 'dncnn'):
        trained_like(modality)
    parent = _Parent(modality)
    parent.train()
    assert modality.frozen and not modality.training
    assert all(not m.training for m in modality.modules())
    assert not any(p.requires_grad for p in modality.parameters())
    buffers = {k: v.clone() for k, v in modality.state_dict().items()}
    x = torch.rand(2, 3, 20, 18, requires_grad=True)
    feats = modality(x)
    assert not feats.requires_grad and feats.grad_fn is None  # no autograd graph
    parent(x).sum().backward()  # the trainable head still trains
    assert parent.head.weight.grad is not None
    for k, v in modality.state_dict().items():  # BN statistics untouched
        assert torch.equal(v, buffers[k]), k
    # Even a direct flag flip cannot put BN into training mode.
    modality.training = True
    modality(x)
    assert not modality.training
    for k, v in modality.state_dict().items():
        assert torch.equal(v, buffers[k]), k


def test_unfrozen_dncnn_trains_and_updates_bn():
    modality = DiffusionPrint(depth=4, width=8, frozen=False)
    modality.train()
    assert all(p.requires_grad for p in modality.parameters())
    before = modality.dncnn[3].running_mean.clone()
    modality(torch.rand(2, 3, 16, 16)).mean().backward()
    assert modality.dncnn[0].weight.grad is not None
    assert not torch.equal(before, modality.dncnn[3].running_mean)


def test_pixel_divisor_rescales_input():
    x = torch.randint(0, 256, (1, 3, 16, 16)).float() / 255
    a = SRM(pixel_divisor=255.0)
    b = SRM(pixel_divisor=256.0)
    # SRM is linear before the clip: a /256 modality sees inputs * 255/256.
    lin_a = F.conv2d(x, a.filters, padding=2)
    lin_b = F.conv2d(x * 255 / 256, b.filters, padding=2)
    assert torch.allclose(a(x), lin_a.clamp(-2, 2), atol=1e-6)
    assert torch.allclose(b(x), lin_b.clamp(-2, 2), atol=1e-6)
    net = trained_like(DiffusionPrint(depth=4, width=8))
    net256 = DiffusionPrint(depth=4, width=8, pixel_divisor=256)
    net256.load_state_dict(net.state_dict())
    assert torch.allclose(net256(x), net(x * 255 / 256), atol=1e-5)
    with pytest.raises(ValueError, match='pixel_divisor'):
        SRM(pixel_divisor=0)


def test_srm_values_on_a_hand_made_input():
    x = torch.zeros(1, 3, 9, 9)
    x[0, 0, 4, 4] = 1.0  # one bright red pixel
    x[0, 2, 4, 4] = 0.5  # and half a blue one
    out = SRM(pixel_divisor=255.0, clip=10.0)(x)
    k = srm_kernels()
    # Output channel c, around the impulse: sum over colours of k_c (flipped) * value.
    for c in range(3):
        expected = (1.0 + 0.5) * torch.flip(k[c], dims=(0, 1))
        assert torch.allclose(out[0, c, 2:7, 2:7], expected, atol=1e-6)
    assert out[0, :, 0, 0].abs().max() == 0
    assert k[0, 2, 2] == -1.0 and k[1, 2, 2] == -1.0 and k[2, 2, 2] == -1.0
    clipped = SRM(pixel_divisor=255.0)(x * 4)
    assert clipped.abs().max() == 2.0


def test_bayar_constraint_and_optimizer():
    bayar = Bayar()
    with torch.no_grad():
        bayar.kernel.mul_(torch.rand_like(bayar.kernel) * 3)
    w = bayar.constrained_weight()
    assert w.shape == (3, 3, 5, 5)
    assert torch.allclose(w[:, :, 2, 2], torch.full((3, 3), -1.0))
    others = w.sum(dim=(2, 3)) - w[:, :, 2, 2]
    assert torch.allclose(others, torch.ones(3, 3), atol=1e-6)
    assert abs(w.sum(dim=(2, 3))).max() < 1e-5  # a residual filter: flat areas map to 0

    class Net(nn.Module):

        def __init__(self):
            super().__init__()
            self.bayar = Bayar()
            self.head = nn.Conv2d(3, 1, 1)

    model = Net()
    wrapper = build_optim_wrapper(model, dict(type='OptimWrapper',
                                              optimizer=dict(type='SGD', lr=0.1)))
    params = {id(p) for g in wrapper.optimizer.param_groups for p in g['params']}
    assert id(model.bayar.kernel) in params
    before = model.bayar.kernel.detach().clone()
    loss = model.head(model.bayar(torch.rand(1, 3, 12, 12))).pow(2).mean()
    wrapper.update_params(loss)
    assert not torch.equal(before, model.bayar.kernel)
    w = model.bayar.constrained_weight()
    assert torch.allclose(w[:, :, 2, 2], torch.full((3, 3), -1.0))
    assert torch.allclose(w.sum(dim=(2, 3)) + 1, torch.ones(3, 3), atol=1e-5)


@pytest.mark.parametrize('layout', ['auto', 'mkldnn', 'mkldnn_fused', 'channels_last',
                                    'contiguous'])
def test_folded_inference_matches_unfolded(layout):
    fast = trained_like(DiffusionPrint(inference_layout=layout))
    slow = DiffusionPrint(fast_inference=False)
    slow.load_state_dict(fast.state_dict())
    x = torch.rand(2, 3, 23, 31)
    ref = slow(x)
    out = fast(x)
    assert out.is_contiguous() and out.dtype == torch.float32
    assert torch.allclose(out, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())
    assert not any('fold' in k for k in fast.state_dict())
    assert set(fast.state_dict()) == set(slow.state_dict())


def test_folded_copy_follows_weight_changes(tmp_path):
    modality = trained_like(DiffusionPrint(depth=5, width=16))
    x = torch.rand(1, 3, 16, 16)
    first = modality(x)
    other = random_dncnn(64, depth=5, width=16, seed=11)
    modality.load_state_dict({f'dncnn.{k}': v for k, v in other.state_dict().items()})
    second = modality(x)
    assert not torch.allclose(first, second)
    plain = DiffusionPrint(depth=5, width=16, fast_inference=False)
    plain.dncnn.load_state_dict(other.state_dict())
    assert torch.allclose(second, plain(x), rtol=1e-4, atol=1e-5)
    # load_checkpoint and in-place edits invalidate it too.
    path = str(tmp_path / 'np.pth')
    torch.save({'network': random_dncnn(64, 5, 16, seed=12).state_dict()}, path)
    modality.load_checkpoint(path)
    third = modality(x)
    assert not torch.allclose(second, third)
    with torch.no_grad():
        modality.dncnn[-1].bias.add_(1.0)
    assert torch.allclose(modality(x), third + 1.0, atol=1e-5)
    # Copies and pickles carry weights, not the cache.
    clone = copy.deepcopy(modality)
    assert clone._folded is None and torch.allclose(clone(x), third + 1.0, atol=1e-5)


@pytest.mark.parametrize('cfg,size,tile', [
    (dict(type='NoisePrintPP'), (41, 29), 40),  # full depth 17, tile not dividing image
    (dict(type='DiffusionPrint', depth=6, width=8), (37, 53), 16),
    (dict(type='DiffusionPrint', depth=6, width=8), (64, 64), 32),
    (dict(type='DiffusionPrint', depth=6, width=8), (20, 45), 7),  # tile < radius
])
def test_tiled_equals_untiled(cfg, size, tile):
    modality = trained_like(build_modality(cfg))
    x = torch.rand(2, 3, *size)
    full = modality(x)
    tol = 1e-5 * max(1.0, full.abs().max().item())
    tiled = modality(x, tile_size=tile)
    assert tiled.shape == full.shape
    assert torch.allclose(tiled, full, atol=tol)
    by_attr = build_modality(dict(cfg, tile_size=tile))
    by_attr.load_state_dict(modality.state_dict())
    assert torch.allclose(by_attr(x), full, atol=tol)
    # An overlap smaller than the receptive radius would be visibly wrong.
    from dp_plugin.modalities.fast_dncnn import tiled_apply
    scaled = x * 255 / modality.pixel_divisor
    short = tiled_apply(modality.folded(), scaled, tile, 2, modality.dncnn.out_channels)
    assert not torch.allclose(short, full, atol=1e-3)


def test_tiling_is_an_inference_feature():
    modality = trained_like(DiffusionPrint(depth=3, width=8, frozen=False, tile_size=8))
    x = torch.rand(1, 3, 19, 17)
    modality.eval()
    with torch.no_grad():
        assert torch.allclose(modality(x), modality(x, tile_size=1000), atol=1e-5)
    modality.train()  # BN uses batch statistics: tiles would differ, so run untiled
    out = modality(x)
    out.sum().backward()
    assert modality.dncnn[0].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match='eval mode'):
        modality(x, tile_size=8)
    with pytest.raises(ValueError, match='tile_size'):
        DiffusionPrint(tile_size=0)


def test_input_validation():
    modality = SRM()
    with pytest.raises(ValueError, match=r'\(B, 3, H, W\)'):
        modality(torch.rand(3, 8, 8))
    with pytest.raises(TypeError, match='float'):
        modality(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))


@MODELS.register_module()
class _ModalityProbeModel(BaseModel):
    """Test-only model taking ``modalities=[...]`` as the project's models do."""

    def __init__(self, modalities, data_preprocessor=None):
        super().__init__(data_preprocessor=data_preprocessor)
        self.modalities = nn.ModuleList(build_modality(m) for m in modalities)
        self.head = nn.Conv2d(sum(m.out_channels for m in self.modalities), 1, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return self.head(torch.cat([m(inputs / 255) for m in self.modalities], dim=1))


def test_mmseg_config_file_with_custom_imports(tmp_path):
    cfg_file = tmp_path / 'probe.py'
    cfg_file.write_text(textwrap.dedent("""
        default_scope = 'dp_plugin'
        custom_imports = dict(imports=['dp_plugin'], allow_failed_imports=False)
        dp = dict(type='DiffusionPrint', depth=5, width=16, tile_size=32)
        model = dict(
            type='_ModalityProbeModel',
            data_preprocessor=dict(type='SegDataPreProcessor', mean=None, std=None,
                                   bgr_to_rgb=True),
            modalities=[dp, dict(type='NoisePrintPP', tile_to_3=True), dict(type='SRM'),
                        dict(type='Bayar')])
    """))
    cfg = Config.fromfile(str(cfg_file))
    init_default_scope(cfg.default_scope)
    model = MODELS.build(cfg.model)
    assert [type(m).__name__ for m in model.modalities] == [
        'DiffusionPrint', 'NoisePrintPP', 'SRM', 'Bayar']
    assert model.modalities[0].tile_size == 32
    out = model(torch.randint(0, 256, (1, 3, 24, 24)).float())
    assert out.shape == (1, 1, 24, 24)
    # Modalities are also plain MODELS entries for configs that nest them elsewhere.
    assert isinstance(MODELS.build(cfg.dp), DiffusionPrint)
    wrapper = build_optim_wrapper(model, dict(optimizer=dict(type='SGD', lr=0.1)))
    trainable = {id(p) for g in wrapper.optimizer.param_groups for p in g['params']
                 if p.requires_grad}
    assert id(model.modalities[3].kernel) in trainable
    assert not any(id(p) in trainable for p in model.modalities[0].parameters())


def test_parent_init_weights_cannot_overwrite_checkpoint(tmp_path):
    from mmengine.model import BaseModule
    src = random_dncnn(64, depth=5, width=16, seed=21)
    path = str(tmp_path / 'w.pth')
    torch.save({'network': src.state_dict()}, path)

    class Parent(BaseModule):

        def __init__(self):
            super().__init__(init_cfg=dict(type='Constant', val=0.0, layer='Conv2d'))
            self.modality = DiffusionPrint(checkpoint=path, depth=5, width=16)
            self.head = nn.Conv2d(64, 1, 1)

    parent = Parent()
    parent.init_weights()
    assert parent.head.weight.abs().sum() == 0  # the parent's init did run
    assert_loaded = parent.modality.dncnn.state_dict()
    for k, v in src.state_dict().items():
        assert torch.equal(assert_loaded[k], v), k
    assert not any(p.requires_grad for p in parent.modality.parameters())


def test_frozen_extractor_stays_fp32_under_autocast():
    modality = trained_like(DiffusionPrint(depth=4, width=8))
    x = torch.rand(1, 3, 16, 16)
    ref = modality(x)
    with torch.autocast(device_type='cpu', dtype=torch.bfloat16):
        out = modality(x)
    assert out.dtype == torch.float32
    assert torch.allclose(out, ref, atol=1e-5)
