"""Converter between upstream TruFor checkpoints and dp_plugin's TruFor.

The official ``trufor.pth.tar`` cannot be downloaded here, so the tests write a
checkpoint in the upstream layout themselves, from the published facts: MiT streams named
``patch_embed{s}``/``block{s}.{j}.{attn.q,attn.kv,attn.proj,attn.sr,attn.norm,norm1,norm2,
mlp.fc1,mlp.dwconv.dwconv,mlp.fc2}``/``norm{s}`` (+ ``extra_``), CMX ``FRMs``/``FFMs``,
``decode_head{,_conf}.{linear_c{1-4}.proj,linear_fuse.{0,1},linear_pred}``,
``detection.{0,3}`` and a 17-layer DnCNN under ``dncnn.``.
"""

import pytest
import torch

from dp_plugin.models.converters import native_to_upstream, upstream_to_native
from dp_plugin.registry import MODELS
from _helpers import load_tool

TINY_MIT = dict(embed_dims=8, num_layers=[1, 1, 1, 1], num_heads=[1, 2, 5, 8])


def _bn(prefix, c):
    return {f'{prefix}.weight': (c,), f'{prefix}.bias': (c,), f'{prefix}.running_mean': (c,),
            f'{prefix}.running_var': (c,), f'{prefix}.num_batches_tracked': ()}


def upstream_shapes(embed_dims=8, num_layers=(1, 1, 1, 1), num_heads=(1, 2, 5, 8),
                    sr_ratios=(8, 4, 2, 1), extra_in=3, dec=32, np_out=1):
    """Key -> shape of an upstream TruFor checkpoint (phase 3: conf + det heads)."""
    dims = [embed_dims * h for h in num_heads]
    shapes = {}
    for prefix, cin in (('', 3), ('extra_', extra_in)):
        prev = cin
        for s, (c, depth, sr) in enumerate(zip(dims, num_layers, sr_ratios), start=1):
            k = 7 if s == 1 else 3
            shapes.update({f'backbone.{prefix}patch_embed{s}.proj.weight': (c, prev, k, k),
                           f'backbone.{prefix}patch_embed{s}.proj.bias': (c,),
                           f'backbone.{prefix}patch_embed{s}.norm.weight': (c,),
                           f'backbone.{prefix}patch_embed{s}.norm.bias': (c,),
                           f'backbone.{prefix}norm{s}.weight': (c,),
                           f'backbone.{prefix}norm{s}.bias': (c,)})
            for j in range(depth):
                b = f'backbone.{prefix}block{s}.{j}'
                blk = {'norm1.weight': (c,), 'norm1.bias': (c,), 'attn.q.weight': (c, c),
                       'attn.q.bias': (c,), 'attn.kv.weight': (2 * c, c), 'attn.kv.bias': (2 * c,),
                       'attn.proj.weight': (c, c), 'attn.proj.bias': (c,), 'norm2.weight': (c,),
                       'norm2.bias': (c,), 'mlp.fc1.weight': (4 * c, c), 'mlp.fc1.bias': (4 * c,),
                       'mlp.dwconv.dwconv.weight': (4 * c, 1, 3, 3),
                       'mlp.dwconv.dwconv.bias': (4 * c,), 'mlp.fc2.weight': (c, 4 * c),
                       'mlp.fc2.bias': (c,)}
                if sr > 1:
                    blk.update({'attn.sr.weight': (c, c, sr, sr), 'attn.sr.bias': (c,),
                                'attn.norm.weight': (c,), 'attn.norm.bias': (c,)})
                shapes.update({f'{b}.{n}': v for n, v in blk.items()})
            prev = c
    for i, c in enumerate(dims):
        f = f'backbone.FRMs.{i}'
        shapes.update({f'{f}.channel_weights.mlp.0.weight': (4 * c, 4 * c),
                       f'{f}.channel_weights.mlp.0.bias': (4 * c,),
                       f'{f}.channel_weights.mlp.2.weight': (2 * c, 4 * c),
                       f'{f}.channel_weights.mlp.2.bias': (2 * c,),
                       f'{f}.spatial_weights.mlp.0.weight': (c, 2 * c, 1, 1),
                       f'{f}.spatial_weights.mlp.0.bias': (c,),
                       f'{f}.spatial_weights.mlp.2.weight': (2, c, 1, 1),
                       f'{f}.spatial_weights.mlp.2.bias': (2,)})
        f = f'backbone.FFMs.{i}'
        for n in ('1', '2'):
            shapes.update({f'{f}.cross.channel_proj{n}.weight': (2 * c, c),
                           f'{f}.cross.channel_proj{n}.bias': (2 * c,),
                           f'{f}.cross.cross_attn.kv{n}.weight': (2 * c, c),
                           f'{f}.cross.end_proj{n}.weight': (c, 2 * c),
                           f'{f}.cross.end_proj{n}.bias': (c,),
                           f'{f}.cross.norm{n}.weight': (c,), f'{f}.cross.norm{n}.bias': (c,)})
        e = f'{f}.channel_emb'
        shapes.update({f'{e}.residual.weight': (c, 2 * c, 1, 1),
                       f'{e}.channel_embed.0.weight': (c, 2 * c, 1, 1),
                       f'{e}.channel_embed.0.bias': (c,),
                       f'{e}.channel_embed.1.weight': (c, 1, 3, 3),
                       f'{e}.channel_embed.1.bias': (c,),
                       f'{e}.channel_embed.3.weight': (c, c, 1, 1),
                       f'{e}.channel_embed.3.bias': (c,)})
        shapes.update(_bn(f'{e}.channel_embed.4', c))
        shapes.update(_bn(f'{e}.norm', c))
    for head, ncls in (('decode_head', 2), ('decode_head_conf', 1)):
        for s, c in enumerate(dims, start=1):
            shapes[f'{head}.linear_c{s}.proj.weight'] = (dec, c)
            shapes[f'{head}.linear_c{s}.proj.bias'] = (dec,)
        shapes.update({f'{head}.linear_fuse.0.weight': (dec, 4 * dec, 1, 1),
                       f'{head}.linear_fuse.0.bias': (dec,),
                       f'{head}.linear_pred.weight': (ncls, dec, 1, 1),
                       f'{head}.linear_pred.bias': (ncls,)})
        shapes.update(_bn(f'{head}.linear_fuse.1', dec))
    shapes.update({'detection.0.weight': (128, 8), 'detection.0.bias': (128,),
                   'detection.3.weight': (1, 128), 'detection.3.bias': (1,)})
    shapes.update({'dncnn.0.weight': (64, 3, 3, 3), 'dncnn.0.bias': (64,),
                   'dncnn.47.weight': (np_out, 64, 3, 3), 'dncnn.47.bias': (np_out,)})
    for layer in range(1, 16):
        shapes[f'dncnn.{3 * layer - 1}.weight'] = (64, 64, 3, 3)
        shapes.update(_bn(f'dncnn.{3 * layer}', 64))
    return shapes


def random_state(shapes):
    g = torch.Generator().manual_seed(0)
    return {k: (torch.tensor(7) if k.endswith('num_batches_tracked')
                else torch.randn(s, generator=g)) for k, s in shapes.items()}


def trufor_cfg(mit=TINY_MIT, dec=32, modality=None, adapter=None):
    dims = [mit['embed_dims'] * h for h in mit['num_heads']]
    head = dict(in_channels=dims, in_index=[0, 1, 2, 3], channels=dec)
    return dict(type='TruFor',
                backbone=dict(type='DualMixVisionTransformer', **mit),
                decode_head=dict(type='AllMLPHead', num_classes=2, **head),
                conf_head=dict(type='ConfidenceHead', **head),
                detection_head=dict(type='ConfPoolDetectionHead'),
                modality=modality or dict(type='NoisePrintPP', tile_to_3=True),
                adapter=adapter)


def test_mit_b2_key_counts_match_the_official_layout():
    """Full-size TruFor (MiT-B2, 512-wide decoders): keys, shapes and size."""
    b2 = dict(embed_dims=64, num_layers=[3, 4, 6, 3], num_heads=[1, 2, 5, 8])
    model = MODELS.build(trufor_cfg(mit=b2, dec=512))
    up = native_to_upstream(model.state_dict())
    count = lambda p: sum(k.startswith(p) for k in up)  # noqa: E731
    assert (count('backbone.'), count('decode_head.'), count('decode_head_conf.'),
            count('detection.'), count('dncnn.')) == (820, 17, 17, 4, 94)
    expected = upstream_shapes(64, (3, 4, 6, 3), dec=512)
    assert {k: tuple(v.shape) for k, v in up.items()} == expected
    n_params = sum(p.numel() for p in model.parameters())
    assert 68.0e6 < n_params < 69.5e6  # upstream: 68.70 M


def test_upstream_checkpoint_converts_and_loads_strictly(tmp_path):
    up = random_state(upstream_shapes())
    src, dst = tmp_path / 'trufor.pth.tar', tmp_path / 'trufor_dp.pth'
    torch.save({'epoch': 3, 'state_dict': up}, src)
    n = load_tool('convert/trufor_to_dp').convert(str(src), str(dst))
    ckpt = torch.load(dst, weights_only=True)
    assert ckpt['meta']['epoch'] == 3
    model = MODELS.build(trufor_cfg())
    model.load_state_dict(ckpt['state_dict'], strict=True)
    assert n == len(model.state_dict())
    sd = model.state_dict()
    c = 8
    in_proj = sd['backbone.extra.layers.0.1.0.attn.attn.in_proj_weight']
    torch.testing.assert_close(in_proj[:c], up['backbone.extra_block1.0.attn.q.weight'])
    torch.testing.assert_close(in_proj[c:], up['backbone.extra_block1.0.attn.kv.weight'])
    torch.testing.assert_close(sd['conf_head.convs.2.conv.weight'][:, :, 0, 0],
                               up['decode_head_conf.linear_c3.proj.weight'])
    torch.testing.assert_close(sd['modalities.0.dncnn.47.weight'], up['dncnn.47.weight'])
    torch.testing.assert_close(sd['detection_head.mlp.3.weight'], up['detection.3.weight'])
    # and back: the reverse conversion reproduces the upstream file exactly
    back = tmp_path / 'back.pth.tar'
    load_tool('convert/trufor_to_dp').convert(str(dst), str(back), reverse=True)
    again = torch.load(back, weights_only=True)['state_dict']
    assert set(again) == set(up)
    assert all(torch.equal(again[k], up[k]) for k in up)  # bit-exact


def test_diffusionprint_widen_maps_to_the_patched_upstream_layout():
    model = MODELS.build(trufor_cfg(modality=dict(type='DiffusionPrint'), adapter='widen'))
    up = native_to_upstream(model.state_dict())
    assert up['backbone.extra_patch_embed1.proj.weight'].shape == (8, 64, 7, 7)
    assert up['dncnn.modality.dncnn.47.weight'].shape == (64, 64, 3, 3)
    simple = MODELS.build(trufor_cfg(modality=dict(type='DiffusionPrint'), adapter='deep'))
    up = native_to_upstream(simple.state_dict())
    assert 'backbone.extra_patch_embed1.dp_adapter.layers.0.weight' in up
    assert set(upstream_to_native(up)) == set(simple.state_dict())


def test_converter_reports_unknown_keys(tmp_path):
    up = random_state(upstream_shapes())
    up['backbone.mystery.weight'] = torch.zeros(1)
    src = tmp_path / 'bad.pth.tar'
    torch.save({'state_dict': up}, src)
    with pytest.raises(SystemExit, match='bad.pth.tar.*backbone.mystery'):
        load_tool('convert/trufor_to_dp').convert(str(src), str(tmp_path / 'out.pth'))
    assert not (tmp_path / 'out.pth').exists()
    with pytest.raises(SystemExit, match='no such file'):
        load_tool('convert/trufor_to_dp').convert(str(tmp_path / 'missing.tar'), str(tmp_path / 'out.pth'))
