"""Behavioural stand-ins of the upstream TruFor and MMFusion inference forwards.

Plain functions on *upstream-layout* state dicts (SegFormer / CMX key names), written
for this project from the published facts (peers.md Part A2/B2 and the upstream files
read for facts only: TruFor ``test_docker/src/models/cmx/{builder_np_conf,
encoders/dual_segformer,decoders/MLPDecoder,layer_utils}.py`` at 35b982a and
``TruFor_train_test/lib/models/cmx/net_utils.py`` at 864355d; MMFusion-IML
``models/{base,cmnext_conf,modal_extract}.py``, ``models/backbones/mixcmnext_mhsa.py``,
``models/layers/early_conv.py`` and ``common/utils.py`` at 9f39271). They share no code
with dp_plugin, so a converted checkpoint run by dp_plugin can be compared with them.

Facts encoded here (eval mode: dropout and drop-path are identities):

- Input: RGB ``uint8 / 256``. The extractors see it raw; the RGB stream sees
  ``(x - mean) / std`` with ImageNet statistics.
- MiT stage ``s``: patch embedding = conv (7x7/4 at stage 1, 3x3/2 after, padding k // 2,
  bias) then a LayerNorm over tokens; blocks ``x += attn(norm1(x)); x += mlp(norm2(x))``
  with efficient attention (``q``; ``kv`` from the input reduced by a ``sr x sr`` strided
  conv and LayerNorm ``attn.norm`` when sr > 1; scale ``head_dim ** -0.5``) and MixFFN
  (``fc1``, depth-wise 3x3 conv, exact GELU, ``fc2``); then the stage norm.
- LayerNorm eps: TruFor: patch embeddings and ``attn.norm`` 1e-5 (``nn.LayerNorm``
  defaults), blocks and stage norms 1e-6, FFM cross-path norms 1e-5, FFM BatchNorms
  1e-5, head BatchNorm 1e-3 (``init_weight`` on ``decode_head`` only in the released
  model, so the confidence head keeps 1e-5). MMFusion: every ``nn.LayerNorm`` and
  ``nn.BatchNorm2d`` of the model gets 1e-3 at initialisation (FFM norms included), but the
  noise stream's patch-embedding norms are a channel-first LayerNorm with eps 1e-6
  (``(x - mean) / sqrt(var + eps)`` over channels).
- CMX fusion after every stage: FRM (channel weights from avg+max pooled features through
  Linear 4C->4C, ReLU, Linear 4C->2C, sigmoid; spatial weights from 1x1 convs 2C->C, ReLU,
  C->2, sigmoid; ``x1 + 0.5 cw[1] x2 + 0.5 sw[1] x2`` and symmetrically), then FFM
  (cross path: Linear C->2C + ReLU split into a self half and a cross half; the cross
  halves exchange a per-head ``softmax_over_keys(K^T V * scale)`` context; end Linear
  2C->C, residual, LayerNorm; channel embedding: 1x1 residual conv (no bias) + [1x1 conv,
  depth-wise 3x3, ReLU, 1x1 conv, BN], then BN). The rectified streams feed the next stage.
- All-MLP decoder: per-stage Linear to D, upsampled (bilinear, align_corners False) to the
  1/4 map, concatenated [c4, c3, c2, c1], 1x1 conv (bias in TruFor, none in MMFusion),
  BN, ReLU, 1x1 classifier; upsampled to the input size.
- Confidence pooling: ``[softmin, softmax, mean, mean of squares]`` of the confidence
  logits (uniform weights) and of ``out[1] - out[0]`` weighted by ``logsigmoid(conf)``
  (weights log-softmax-normalised over pixels), then Linear 8->128, ReLU, Linear 128->1.
- Noiseprint++: 17 convs 3x3 (bias only on the first and last), BN (eps 1e-5) after convs
  2-16, ReLU after all but the last; its 1-channel output is tiled to 3 channels.
- MMFusion early fusion: modalities in the order noiseprint, bayar, srm; each through an
  EarlyConv (3 x [3x3 conv, BN, ReLU] 24/48/96, 1x1 conv to 3), concatenated, mixer
  EarlyConv (9 -> 3); with more than one modality the noise stream's next-stage input is
  the rectified stage output plus the stage's patch embedding read with a channel-last
  reshape of its channel-first memory. Bayar: free taps renormalised to sum 1, centre -1,
  ``(in, out, 25)`` reshaped to ``(out, in, 5, 5)``, padding 2, no bias. SRM: fixed
  filters, padding 2, Hardtanh(-2, 2).
"""
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F

Tensor = torch.Tensor
SD = Dict[str, Tensor]
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

#: LayerNorm / BatchNorm epsilons of each codebase (see the module docstring).
TRUFOR_EPS = dict(patch=1e-5, extra_patch=1e-5, sr=1e-5, block=1e-6, cross=1e-5,
                  fuse_bn=1e-5, head_bn=1e-3, conf_bn=1e-5)
MMFUSION_EPS = dict(patch=1e-3, extra_patch=1e-6, sr=1e-3, block=1e-3, cross=1e-3,
                    fuse_bn=1e-3, head_bn=1e-3, conf_bn=1e-3)


def _ln(x: Tensor, sd: SD, p: str, eps: float) -> Tensor:
    return F.layer_norm(x, x.shape[-1:], sd[p + '.weight'], sd[p + '.bias'], eps)


def _lin(x: Tensor, sd: SD, p: str) -> Tensor:
    return F.linear(x, sd[p + '.weight'], sd.get(p + '.bias'))


def _bn(x: Tensor, sd: SD, p: str, eps: float) -> Tensor:
    return F.batch_norm(x, sd[p + '.running_mean'], sd[p + '.running_var'], sd[p + '.weight'],
                        sd[p + '.bias'], False, 0.0, eps)


def _conv(x: Tensor, sd: SD, p: str, **kw) -> Tensor:
    return F.conv2d(x, sd[p + '.weight'], sd.get(p + '.bias'), **kw)


def _tokens(x: Tensor) -> Tensor:
    return x.flatten(2).transpose(1, 2)


def _grid(x: Tensor, h: int, w: int) -> Tensor:
    return x.transpose(1, 2).reshape(x.shape[0], -1, h, w)


def _attention(x: Tensor, h: int, w: int, sd: SD, p: str, heads: int, sr: int,
               sr_eps: float) -> Tensor:
    b, n, c = x.shape
    d = c // heads
    q = _lin(x, sd, p + '.q').reshape(b, n, heads, d).transpose(1, 2)
    src = x
    if sr > 1:
        src = _ln(_tokens(_conv(_grid(x, h, w), sd, p + '.sr', stride=sr)), sd, p + '.norm',
                  sr_eps)
    kv = _lin(src, sd, p + '.kv').reshape(b, -1, 2, heads, d)
    k, v = kv[:, :, 0].transpose(1, 2), kv[:, :, 1].transpose(1, 2)
    att = (q @ k.transpose(-2, -1) * d ** -0.5).softmax(-1)
    return _lin((att @ v).transpose(1, 2).reshape(b, n, c), sd, p + '.proj')


def _mix_ffn(x: Tensor, h: int, w: int, sd: SD, p: str) -> Tensor:
    y = _lin(x, sd, p + '.fc1')
    y = _grid(y, h, w)
    y = F.conv2d(y, sd[p + '.dwconv.dwconv.weight'], sd[p + '.dwconv.dwconv.bias'], padding=1,
                 groups=y.shape[1])
    return _lin(F.gelu(_tokens(y)), sd, p + '.fc2')


def _blocks(x: Tensor, h: int, w: int, sd: SD, p: str, heads: int, sr: int,
            eps: dict) -> Tensor:
    j = 0
    while f'{p}.{j}.norm1.weight' in sd:
        b = f'{p}.{j}'
        x = x + _attention(_ln(x, sd, b + '.norm1', eps['block']), h, w, sd, b + '.attn',
                           heads, sr, eps['sr'])
        x = x + _mix_ffn(_ln(x, sd, b + '.norm2', eps['block']), h, w, sd, b + '.mlp')
        j += 1
    return x


def _frm(x1: Tensor, x2: Tensor, sd: SD, p: str) -> Tuple[Tensor, Tensor]:
    b, c, h, w = x1.shape
    x = torch.cat((x1, x2), 1)
    pooled = torch.cat((x.mean((2, 3)), x.amax((2, 3))), 1)
    cw = torch.sigmoid(_lin(F.relu(_lin(pooled, sd, p + '.channel_weights.mlp.0')), sd,
                            p + '.channel_weights.mlp.2')).reshape(b, 2, c, 1, 1)
    sw = torch.sigmoid(_conv(F.relu(_conv(x, sd, p + '.spatial_weights.mlp.0')), sd,
                             p + '.spatial_weights.mlp.2')).reshape(b, 2, 1, h, w)
    return (x1 + 0.5 * cw[:, 1] * x2 + 0.5 * sw[:, 1] * x2,
            x2 + 0.5 * cw[:, 0] * x1 + 0.5 * sw[:, 0] * x1)


def _ffm(x1: Tensor, x2: Tensor, sd: SD, p: str, heads: int, eps: dict) -> Tensor:
    b, c, h, w = x1.shape
    d = c // heads
    t1, t2 = _tokens(x1), _tokens(x2)
    y1, u1 = F.relu(_lin(t1, sd, p + '.cross.channel_proj1')).chunk(2, -1)
    y2, u2 = F.relu(_lin(t2, sd, p + '.cross.channel_proj2')).chunk(2, -1)

    def split(u):
        return u.reshape(b, -1, heads, d).transpose(1, 2)

    def context(u, name):
        kv = _lin(u, sd, f'{p}.cross.cross_attn.{name}').reshape(b, -1, 2, heads, d)
        k, v = kv[:, :, 0].transpose(1, 2), kv[:, :, 1].transpose(1, 2)
        return (k.transpose(-2, -1) @ v * d ** -0.5).softmax(-2)

    v1 = (split(u1) @ context(u2, 'kv2')).transpose(1, 2).reshape(b, -1, c)
    v2 = (split(u2) @ context(u1, 'kv1')).transpose(1, 2).reshape(b, -1, c)
    o1 = _ln(t1 + _lin(torch.cat((y1, v1), -1), sd, p + '.cross.end_proj1'), sd,
             p + '.cross.norm1', eps['cross'])
    o2 = _ln(t2 + _lin(torch.cat((y2, v2), -1), sd, p + '.cross.end_proj2'), sd,
             p + '.cross.norm2', eps['cross'])
    merged = _grid(torch.cat((o1, o2), -1), h, w)
    e = p + '.channel_emb'
    y = _conv(merged, sd, e + '.channel_embed.0')
    y = F.relu(_conv(y, sd, e + '.channel_embed.1', padding=1, groups=y.shape[1]))
    y = _bn(_conv(y, sd, e + '.channel_embed.3'), sd, e + '.channel_embed.4', eps['fuse_bn'])
    return _bn(_conv(merged, sd, e + '.residual') + y, sd, e + '.norm', eps['fuse_bn'])


def _decoder(feats: Sequence[Tensor], sd: SD, p: str, fuse: Tuple[str, str],
             bn_eps: float) -> Tensor:
    size = feats[0].shape[2:]
    outs = []
    for i in (4, 3, 2, 1):
        c = feats[i - 1]
        y = _grid(_lin(_tokens(c), sd, f'{p}.linear_c{i}.proj'), *c.shape[2:])
        outs.append(F.interpolate(y, size=size, mode='bilinear', align_corners=False))
    y = _conv(torch.cat(outs, 1), sd, f'{p}.linear_fuse.{fuse[0]}')
    y = F.relu(_bn(y, sd, f'{p}.linear_fuse.{fuse[1]}', bn_eps))
    return _conv(y, sd, f'{p}.linear_pred')


def _pool(x: Tensor, log_w: Tensor) -> Tensor:
    x = x.flatten(1)
    log_w = F.log_softmax(log_w.flatten(1), -1)
    w = log_w.exp()
    return torch.stack((-torch.logsumexp(log_w - x, -1), torch.logsumexp(log_w + x, -1),
                        (w * x).sum(-1), (w * x * x).sum(-1)), 1)


def _detection(out: Tensor, conf: Tensor, sd: SD) -> Tensor:
    f1 = _pool(conf, torch.zeros_like(conf))
    f2 = _pool(out[:, 1:2] - out[:, 0:1], F.logsigmoid(conf))
    h = F.relu(_lin(torch.cat((f1, f2), -1), sd, 'detection.0'))
    return _lin(h, sd, 'detection.3')[:, 0]


def _dncnn(x: Tensor, sd: SD, p: str) -> Tensor:
    convs = sorted({int(k.split('.')[-2]) for k in sd if k.startswith(p)
                    and k.endswith('.weight') and sd[k].dim() == 4})
    for n, i in enumerate(convs):
        x = _conv(x, sd, f'{p}{i}', padding=1)
        if f'{p}{i + 1}.running_mean' in sd:
            x = _bn(x, sd, f'{p}{i + 1}', 1e-5)
        if n + 1 < len(convs):
            x = F.relu(x)
    return x


def _heads(feats: List[Tensor], size, sd: SD, conf_name: str, fuse: Tuple[str, str],
           eps: dict) -> Dict[str, Tensor]:
    out = F.interpolate(_decoder(feats, sd, 'decode_head', fuse, eps['head_bn']), size=size,
                        mode='bilinear', align_corners=False)
    conf = F.interpolate(_decoder(feats, sd, conf_name, fuse, eps['conf_bn']), size=size,
                         mode='bilinear', align_corners=False)
    return dict(map=out.softmax(1)[:, 1], conf=torch.sigmoid(conf)[:, 0],
                score=torch.sigmoid(_detection(out, conf, sd)))


STRIDES = (4, 2, 2, 2)


@torch.no_grad()
def trufor_forward(sd: SD, image: Tensor, heads: Sequence[int], srs: Sequence[int],
                   eps: dict = TRUFOR_EPS) -> Dict[str, Tensor]:
    """TruFor's released model on ``image`` = ``uint8 / 256``: map, conf and score."""
    modal = _dncnn(image, sd, 'dncnn.').repeat(1, 3, 1, 1)
    x_r, x_e = (image - MEAN) / STD, modal
    feats = []
    for s in range(1, 5):
        embedded = []
        for x, pre, peps in ((x_r, '', eps['patch']), (x_e, 'extra_', eps['extra_patch'])):
            k = sd[f'backbone.{pre}patch_embed{s}.proj.weight'].shape[-1]
            y = _conv(x, sd, f'backbone.{pre}patch_embed{s}.proj', stride=STRIDES[s - 1],
                      padding=k // 2)
            h, w = y.shape[2:]
            t = _ln(_tokens(y), sd, f'backbone.{pre}patch_embed{s}.norm', peps)
            t = _blocks(t, h, w, sd, f'backbone.{pre}block{s}', heads[s - 1], srs[s - 1], eps)
            embedded.append(_grid(_ln(t, sd, f'backbone.{pre}norm{s}', eps['block']), h, w))
        x_r, x_e = _frm(*embedded, sd, f'backbone.FRMs.{s - 1}')
        feats.append(_ffm(x_r, x_e, sd, f'backbone.FFMs.{s - 1}', heads[s - 1], eps))
    return _heads(feats, image.shape[2:], sd, 'decode_head_conf', ('0', '1'), eps)


def _early_conv(x: Tensor, sd: SD, p: str, bn_eps: float) -> Tensor:
    for j in range(3):
        x = F.relu(_bn(_conv(x, sd, f'{p}.convs.{j}.0', padding=1), sd, f'{p}.convs.{j}.1',
                       bn_eps))
    return _conv(x, sd, p + '.final')


def _bayar(x: Tensor, kernel: Tensor) -> Tensor:
    cin, cout, n = kernel.shape
    free = kernel / kernel.sum(-1, keepdim=True)
    centre = free.new_full((cin, cout, 1), -1.0)
    k = int(round((n + 1) ** 0.5))
    weight = torch.cat((free[..., :n // 2], centre, free[..., n // 2:]), -1)
    return F.conv2d(x, weight.reshape(cout, cin, k, k), padding=k // 2)


def _channel_first_ln(x: Tensor, sd: SD, p: str, eps: float) -> Tensor:
    mean = x.mean(1, keepdim=True)
    var = (x - mean).pow(2).mean(1, keepdim=True)
    return sd[p + '.weight'][:, None, None] * (x - mean) / torch.sqrt(var + eps) + \
        sd[p + '.bias'][:, None, None]


@torch.no_grad()
def mmfusion_early_forward(sd: SD, ext: SD, image: Tensor, heads: Sequence[int],
                           srs: Sequence[int], eps: dict = MMFUSION_EPS) -> Dict[str, Tensor]:
    """MMFusion's early-fusion model (detection phase) on ``image`` = ``uint8 / 256``."""
    maps = [_dncnn(image, ext, 'noiseprint.').repeat(1, 3, 1, 1),
            _bayar(image, ext['bayar.kernel']),
            F.hardtanh(F.conv2d(image, ext['srm.filters'], padding=2), -2.0, 2.0)]
    mixed = torch.cat([_early_conv(m, sd, f'backbone.modal_mix.blocks.{k}', eps['fuse_bn'])
                       for k, m in enumerate(maps)], 1)
    x_e = _early_conv(mixed, sd, 'backbone.modal_mix.mixer', eps['fuse_bn'])
    x_r = (image - MEAN) / STD
    feats = []
    for s in range(1, 5):
        k = sd[f'backbone.patch_embed{s}.proj.weight'].shape[-1]
        y = _conv(x_r, sd, f'backbone.patch_embed{s}.proj', stride=STRIDES[s - 1],
                  padding=k // 2)
        h, w = y.shape[2:]
        t = _blocks(_ln(_tokens(y), sd, f'backbone.patch_embed{s}.norm', eps['patch']), h, w,
                    sd, f'backbone.block{s}', heads[s - 1], srs[s - 1], eps)
        rgb = _grid(_ln(t, sd, f'backbone.norm{s}', eps['block']), h, w)
        d = f'backbone.extra_downsample_layers.{s - 1}'
        e = _conv(x_e, sd, d + '.proj.module', stride=STRIDES[s - 1], padding=k // 2)
        e = _channel_first_ln(e, sd, d + '.norm.ln_0', eps['extra_patch'])
        t = _blocks(_tokens(e), h, w, sd, f'backbone.extra_block{s}', heads[s - 1],
                    srs[s - 1], eps)
        noise = _grid(_ln(t, sd, f'backbone.extra_norm{s}', eps['block']), h, w)
        x_r, noise = _frm(rgb, noise, sd, f'backbone.FRMs.{s - 1}')
        feats.append(_ffm(x_r, noise, sd, f'backbone.FFMs.{s - 1}', heads[s - 1], eps))
        b, c = e.shape[:2]
        x_e = e.reshape(b, h, w, c).permute(0, 3, 1, 2) + noise  # the DELIVER quirk
    return _heads(feats, image.shape[2:], sd, 'conf_head', ('conv', 'bn'), eps)
