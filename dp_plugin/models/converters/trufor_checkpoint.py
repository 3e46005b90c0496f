"""State-dict mapping between upstream TruFor checkpoints and :class:`TruFor`.

Upstream layout (``trufor.pth.tar['state_dict']``)::

    backbone.{,extra_}patch_embed{1-4}.{proj,norm}.*     backbone.FRMs.{i}.*
    backbone.{,extra_}block{1-4}.{j}.{attn.q,attn.kv,...}  backbone.FFMs.{i}.*
    backbone.{,extra_}norm{1-4}.*                        dncnn.{0..47}.*
    decode_head{,_conf}.{linear_c{1-4}.proj,linear_fuse.{0,1},linear_pred}.*
    detection.{0,3}.*

Native layout: ``backbone.{rgb,extra}.layers.*`` (mmseg MiT), ``backbone.{FRMs,FFMs}.*``,
``decode_head`` / ``conf_head`` (:class:`AllMLPHead`: ``convs.{i}.conv``,
``fusion_conv.{conv,bn}``, ``conv_seg``), ``detection_head.mlp.{0,3}``,
``modalities.0.dncnn.*``, ``modality_adapter.*``.

A TruFor patched by ``adapters.trufor`` stores the DiffusionPrint extractor
under ``dncnn.modality.*`` and a ``simple``/``deep`` adapter under
``backbone.extra_patch_embed1.dp_adapter.*``; both are mapped too.
"""
import re
from typing import Dict, Tuple

import torch

from .key_map import KeyMap, Rule, check_all_used, strip_module, sub_dict
from .mit_keys import mmseg_to_segformer, segformer_to_mmseg

Tensor = torch.Tensor
_MODALITY = 'modalities.0.'
_PATCHED_ADAPTER = 'backbone.extra_patch_embed1.dp_adapter.'
_MIT_UPSTREAM = re.compile(r'^backbone\.(extra_)?(patch_embed|block|norm)\d')
#: (native stream, upstream prefix) of the two MiT streams.
_MIT_STREAMS = (('rgb', ''), ('extra', 'extra_'))


def segformer_head(fuse_conv: str = 'linear_fuse.0.',
                   fuse_bn: str = 'linear_fuse.1.') -> KeyMap:
    """SegFormer's MLP decoder (upstream names) <-> :class:`AllMLPHead`.

    ``linear_c{s}.proj`` are ``nn.Linear`` upstream (1x1 convolutions natively, one-digit
    stage numbers as upstream's names); TruFor names the fusion conv / BN
    ``linear_fuse.{0,1}``, MMFusion ``linear_fuse.{conv,bn}``.
    """
    return KeyMap([*(Rule(f'linear_c{s}.proj.', f'convs.{s - 1}.conv.', linear_as_conv=True)
                     for s in range(1, 10)),
                   (fuse_conv, 'fusion_conv.conv.'),
                   (fuse_bn, 'fusion_conv.bn.'),
                   ('linear_pred.', 'conv_seg.')], what='SegFormer decoder')


_HEAD = segformer_head()
#: Everything but the MiT streams and the modality extractor.
_MODULES = (
    ('backbone.FRMs.', 'backbone.FRMs.'),
    ('backbone.FFMs.', 'backbone.FFMs.'),
    (_PATCHED_ADAPTER, 'modality_adapter.'),
    ('detection.', 'detection_head.mlp.'),
    Rule('decode_head.', 'decode_head.', inner=_HEAD),
    Rule('decode_head_conf.', 'conf_head.', inner=_HEAD),
)
#: The extractor: a DiffusionPrint patched in by ``adapters.trufor``, or Noiseprint++.
_PATCHED_EXTRACTOR = ('dncnn.modality.', _MODALITY)
_NOISEPRINT = ('dncnn.', _MODALITY + 'dncnn.')
_TO_NATIVE = KeyMap(_MODULES + (_PATCHED_EXTRACTOR, _NOISEPRINT))


def upstream_to_native(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Convert an upstream TruFor ``state_dict`` to :class:`TruFor`'s keys and shapes."""
    state_dict = strip_module(state_dict)
    backbone = sub_dict(state_dict, 'backbone.')
    out = {f'backbone.{stream}.{key}': value for stream, prefix in _MIT_STREAMS
           for key, value in segformer_to_mmseg(backbone, prefix).items()}
    used = {k for k in state_dict if _MIT_UPSTREAM.match(k)}
    modules, modules_used = _TO_NATIVE.to_native(state_dict)
    out.update(modules)
    check_all_used(state_dict, used | modules_used, 'upstream TruFor')
    return out


def native_to_upstream(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Convert a :class:`TruFor` ``state_dict`` to the upstream TruFor layout.

    A Noiseprint++ model maps to the official layout exactly. A DiffusionPrint model maps
    to the layout of an upstream TruFor patched by ``adapters.trufor``.
    """
    out: Dict[str, Tensor] = {}
    used = set()
    for stream, prefix in _MIT_STREAMS:
        part = sub_dict(state_dict, f'backbone.{stream}.')
        out.update({'backbone.' + k: v for k, v in mmseg_to_segformer(part, prefix).items()})
        used |= {f'backbone.{stream}.{k}' for k in part}
    modality = sub_dict(state_dict, _MODALITY)
    single = modality.get('dncnn.47.weight', torch.empty(1, 1)).shape[0] == 1 and \
        set(modality) == {k for k in modality if k.startswith('dncnn.')}
    to_upstream = KeyMap(_MODULES + (_NOISEPRINT if single else _PATCHED_EXTRACTOR,))
    modules, modules_used = to_upstream.to_upstream(state_dict)
    out.update(modules)
    check_all_used(state_dict, used | modules_used, 'native TruFor')
    return out


def split_checkpoint(obj) -> Tuple[Dict[str, Tensor], dict]:
    """``(state_dict, rest)`` of a loaded checkpoint (``state_dict`` wrapper or bare)."""
    if isinstance(obj, dict) and isinstance(obj.get('state_dict'), dict):
        return obj['state_dict'], {k: v for k, v in obj.items() if k != 'state_dict'}
    if isinstance(obj, dict) and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj, {}
    raise ValueError('expected a checkpoint dict with "state_dict" or a bare state_dict')
