"""Shared TruFor/CMX building blocks: fusion modules, dual MiT, heads, losses."""
import pytest
import torch

from dp_plugin.models.backbones import DualMixVisionTransformer
from dp_plugin.models.converters.mit_keys import (inflate_input_channels, mmseg_to_segformer,
                                                 segformer_to_mmseg)
from dp_plugin.models.fusion import FeatureFusionModule, FeatureRectifyModule
from dp_plugin.models.heads import (AllMLPHead, ConfidenceHead, ConfPoolDetectionHead,
                                    weighted_statistics_pooling)
from dp_plugin.models.losses import (ConfidenceMSELoss, DetectionBCELoss, ForgeryCrossEntropyLoss,
                                     ForgeryDiceLoss, boundary_band_targets)
from dp_plugin.registry import MODELS

TINY = dict(embed_dims=8, num_layers=[1, 1, 1, 1], num_heads=[1, 2, 5, 8])


def tiny_backbone(**kw):
    cfg = dict(TINY)
    cfg.update(kw)
    return DualMixVisionTransformer(**cfg)


def test_frm_follows_the_cmx_update_rule():
    torch.manual_seed(0)
    frm = FeatureRectifyModule(dim=6)
    x1, x2 = torch.randn(2, 6, 5, 4), torch.randn(2, 6, 5, 4)
    out1, out2 = frm(x1, x2)
    cw = frm.channel_weights(x1, x2)
    sw = frm.spatial_weights(x1, x2)
    assert cw.shape == (2, 2, 6, 1, 1) and sw.shape == (2, 2, 1, 5, 4)
    torch.testing.assert_close(out1, x1 + 0.5 * cw[1] * x2 + 0.5 * sw[1] * x2)
    torch.testing.assert_close(out2, x2 + 0.5 * cw[0] * x1 + 0.5 * sw[0] * x1)
    # channel gates come from the pooled [avg, max] of [x1, x2]
    both = torch.cat((x1, x2), 1)
    pooled = torch.cat((both.mean((2, 3)), both.amax((2, 3))), 1)
    torch.testing.assert_close(cw[0, :, :, 0, 0], frm.channel_weights.mlp(pooled)[:, :6])
    # a zero second stream leaves the first one untouched
    torch.testing.assert_close(frm(x1, torch.zeros_like(x2))[0], x1)


def test_ffm_shapes_keys_and_mismatch_error():
    ffm = FeatureFusionModule(dim=16, num_heads=2)
    out = ffm(torch.randn(2, 16, 6, 5), torch.randn(2, 16, 6, 5))
    assert out.shape == (2, 16, 6, 5)
    keys = set(ffm.state_dict())
    assert 'cross.cross_attn.kv1.weight' in keys and 'cross.cross_attn.kv1.bias' not in keys
    assert {'channel_emb.residual.weight', 'channel_emb.channel_embed.4.running_var',
            'channel_emb.norm.weight', 'cross.end_proj2.bias', 'cross.norm1.weight'} <= keys
    assert len(keys) == 31
    with pytest.raises(ValueError, match='same shape'):
        ffm(torch.randn(1, 16, 6, 5), torch.randn(1, 16, 5, 5))
    assert MODELS.get('FeatureFusionModule') is FeatureFusionModule


def test_dual_mit_forward_shapes_and_upstream_names():
    bb = tiny_backbone(extra_in_channels=64)
    outs = bb(torch.rand(2, 3, 64, 64), torch.rand(2, 64, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(2, 8, 16, 16), (2, 16, 8, 8), (2, 40, 4, 4),
                                              (2, 64, 2, 2)]
    assert bb.extra_patch_embed1 is bb.extra.layers[0][0]
    assert bb.block3 is bb.rgb.layers[2][1] and bb.extra_norm4 is bb.extra.layers[3][2]
    new = torch.nn.Identity()
    bb.extra_patch_embed2 = new
    assert bb.extra.layers[1][0] is new and 'extra_patch_embed2' not in bb._modules
    with pytest.raises(ValueError, match='64 channels'):
        tiny_backbone(extra_in_channels=64)(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64))


def test_mit_key_conversion_round_trip():
    bb = tiny_backbone()
    mm = bb.rgb.state_dict()
    up = mmseg_to_segformer(mm, prefix='extra_')
    assert 'extra_block1.0.attn.q.weight' in up and 'extra_block1.0.mlp.dwconv.dwconv.weight' in up
    assert up['extra_block1.0.mlp.fc1.weight'].dim() == 2
    back = segformer_to_mmseg(up, prefix='extra_')
    assert set(back) == set(mm)
    for k in mm:
        torch.testing.assert_close(back[k], mm[k])


@pytest.mark.parametrize('extra_in', [3, 64, 1])
def test_pretrained_mit_loads_into_both_streams(tmp_path, extra_in):
    torch.manual_seed(1)
    source = tiny_backbone().rgb
    path = tmp_path / 'mit_tiny.pth'
    torch.save({'state_dict': mmseg_to_segformer(source.state_dict())}, path)
    bb = tiny_backbone(extra_in_channels=extra_in, pretrained=str(path))
    bb.init_weights()
    src = source.state_dict()
    for k, v in bb.rgb.state_dict().items():
        torch.testing.assert_close(v, src[k])
    w = bb.extra.state_dict()['layers.0.0.projection.weight']
    assert w.shape[1] == extra_in
    torch.testing.assert_close(w, inflate_input_channels(src['layers.0.0.projection.weight'],
                                                         extra_in))
    torch.testing.assert_close(w.sum(1), src['layers.0.0.projection.weight'].sum(1))
    torch.testing.assert_close(bb.extra.state_dict()['layers.3.1.0.ffn.layers.4.weight'],
                               src['layers.3.1.0.ffn.layers.4.weight'])


def test_pretrained_wrong_variant_is_a_clear_error(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save(mmseg_to_segformer(tiny_backbone(num_layers=[2, 1, 1, 1]).rgb.state_dict()), path)
    bb = tiny_backbone(pretrained=str(path))
    with pytest.raises(ValueError, match='other.pth'):
        bb.init_weights()
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        tiny_backbone(pretrained=str(tmp_path / 'nope.pth')).init_weights()


def test_all_mlp_and_confidence_heads():
    feats = [torch.randn(2, c, 16 // 2 ** i, 16 // 2 ** i) for i, c in enumerate([8, 16, 40, 64])]
    head = AllMLPHead(in_channels=[8, 16, 40, 64], in_index=[0, 1, 2, 3], channels=32,
                      num_classes=2)
    assert head(feats).shape == (2, 2, 16, 16)
    assert not head.convs[0].with_norm and not head.convs[0].with_activation
    assert head.fusion_conv.conv.bias is not None and head.fusion_conv.with_norm
    conf = ConfidenceHead(in_channels=[8, 16, 40, 64], in_index=[0, 1, 2, 3], channels=32)
    assert conf(feats).shape == (2, 1, 16, 16)
    # the fusion conv sees the deepest stage first (TruFor order [c4, c3, c2, c1])
    head.eval()
    base = head.fuse(feats)
    feats[3] = feats[3] + 1.0
    w = head.fusion_conv.conv.weight
    assert w.shape[1] == 4 * 32
    with torch.no_grad():
        head.fusion_conv.conv.weight[:, :32] = 0
    assert not torch.allclose(head.fuse(feats), base)
    with torch.no_grad():
        head.fusion_conv.conv.weight.copy_(w)


def test_weighted_statistics_pooling_by_hand():
    x = torch.full((1, 1, 4, 4), 2.0)
    torch.testing.assert_close(weighted_statistics_pooling(x), torch.tensor([[2., 2., 2., 4.]]))
    x = torch.tensor([0., 0., 0., 4.]).view(1, 1, 2, 2)
    log_w = torch.tensor([-1e4, -1e4, -1e4, 0.]).view(1, 1, 2, 2)  # all weight on pixel 3
    torch.testing.assert_close(weighted_statistics_pooling(x, log_w),
                               torch.tensor([[4., 4., 4., 16.]]))
    st = weighted_statistics_pooling(torch.randn(3, 1, 5, 5))
    assert (st[:, 0] <= st[:, 2]).all() and (st[:, 2] <= st[:, 1]).all()


def test_conf_pool_detection_head():
    head = ConfPoolDetectionHead()
    keys = set(head.state_dict())
    assert keys == {'mlp.0.weight', 'mlp.0.bias', 'mlp.3.weight', 'mlp.3.bias'}
    seg, conf = torch.randn(2, 2, 8, 8), torch.randn(2, 1, 8, 8)
    assert head(seg, conf).shape == (2,)
    feats = head.pool(seg, conf)
    torch.testing.assert_close(feats[:, :4], weighted_statistics_pooling(conf))
    with pytest.raises(ValueError):
        head(torch.randn(2, 3, 8, 8), conf)


def test_forgery_ce_and_dice_by_hand():
    label = torch.zeros(1, 8, 8, dtype=torch.long)
    label[:, 2:6, 2:6] = 1
    good = torch.stack([(1 - label) * 20.0 - 10, label * 20.0 - 10], 1).float()
    ce = ForgeryCrossEntropyLoss(class_weight=[0.5, 2.5], loss_weight=0.3)
    dice = ForgeryDiceLoss(loss_weight=0.7, exponent=2)
    assert ce(good, label) + dice(good, label) < 1e-3
    bad = -good
    # every pixel wrong by a logit margin of 20: weighted CE ~ 20, Dice overlap 0
    assert ce(bad, label).item() == pytest.approx(0.3 * 20, rel=1e-3)
    assert dice(bad, label).item() == pytest.approx(0.7, rel=1e-3)
    # ignored pixels count in neither term
    label2 = label.clone()
    label2[:, :, :4] = 255
    bad2 = bad.clone()
    bad2[:, :, :, 4:] = good[:, :, :, 4:]
    assert ce(bad2, label2) + dice(bad2, label2) < 1e-3
    # a half-confident prediction separates the exponents: 2pt / (p^e + t^e)
    half = torch.zeros(1, 2, 8, 8)
    p = 0.5
    for e, expected in ((1, 2 * p * 16 / (p * 64 + 16)), (2, 2 * p * 16 / (p * p * 64 + 16))):
        got = 1 - ForgeryDiceLoss(exponent=e)(half, label).item()
        assert got == pytest.approx(expected, rel=1e-4)
    logits = torch.randn(2, 2, 6, 6)
    lab = torch.randint(0, 2, (2, 6, 6))
    torch.testing.assert_close(ForgeryCrossEntropyLoss()(logits, lab),
                               torch.nn.functional.cross_entropy(logits, lab))


def test_confidence_band_and_tcp():
    label = torch.zeros(1, 40, 40, dtype=torch.long)
    label[:, 10:30, 10:30] = 1
    gt1, gt0 = boundary_band_targets(label)
    assert gt1[0, 20, 20] and not gt1[0, 11, 20]          # eroded by 7 px
    assert not gt0[0, 20, 8] and gt0[0, 20, 3]             # dilated by 5 px
    assert not (gt1 & gt0).any()
    seg = torch.zeros(1, 2, 40, 40)
    seg[:, 1] = 2.0                                        # p1 = sigmoid(2) everywhere
    p1 = torch.sigmoid(torch.tensor(2.0))
    loss = ConfidenceMSELoss()
    tcp = torch.where(gt1, p1, torch.where(gt0, 1 - p1, torch.tensor(0.)))
    conf = torch.logit(tcp.clamp(1e-4, 1 - 1e-4)).unsqueeze(1)
    assert loss(conf, seg, label) < 1e-6
    conf_zero = torch.zeros(1, 1, 40, 40)                  # sigmoid 0.5
    mask = gt1 | gt0
    expected = ((0.5 - tcp) ** 2)[mask].mean()
    torch.testing.assert_close(loss(conf_zero, seg, label), expected)


def test_detection_bce_weights():
    loss = DetectionBCELoss()
    masks = torch.zeros(2, 8, 8, dtype=torch.long)
    masks[0, :2, :2] = 1                                   # 4 pixels > 3 -> forged
    masks[1, 0, :3] = 1                                    # 3 pixels -> authentic
    labels = loss.labels_from_masks(masks)
    assert labels.tolist() == [1.0, 0.0]
    logits = torch.tensor([0.0, 0.0])
    ln2 = torch.log(torch.tensor(2.0))
    expected = 0.5 * (0.5 / 0.7 * ln2 + 0.5 / 0.3 * ln2) / 2
    torch.testing.assert_close(loss(logits, labels), expected)
