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

from .mit_keys import mmseg_to_segformer, segformer_to_mmseg

Tensor = torch.Tensor
_HEADS = (('decode_head.', 'decode_head.'), ('decode_head_conf.', 'conf_head.'))
_MODALITY = 'modalities.0.'
_PATCHED_ADAPTER = 'backbone.extra_patch_embed1.dp_adapter.'
_MIT_UPSTREAM = re.compile(r'^backbone\.(extra_)?(patch_embed|block|norm)\d')


def _split(state_dict: Dict[str, Tensor], prefix: str) -> Dict[str, Tensor]:
    return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}


def _head_to_native(sd: Dict[str, Tensor]) -> Dict[str, Tensor]:
    out = {}
    for key, value in sd.items():
        m = re.match(r'^linear_c(\d)\.proj\.(weight|bias)$', key)
        if m:
            idx, param = int(m.group(1)) - 1, m.group(2)
            out[f'convs.{idx}.conv.{param}'] = value[:, :, None, None] if param == 'weight' \
                else value
        elif key.startswith('linear_fuse.0.'):
            out['fusion_conv.conv.' + key[len('linear_fuse.0.'):]] = value
        elif key.startswith('linear_fuse.1.'):
            out['fusion_conv.bn.' + key[len('linear_fuse.1.'):]] = value
        elif key.startswith('linear_pred.'):
            out['conv_seg.' + key[len('linear_pred.'):]] = value
        else:
            raise KeyError(f'unexpected TruFor decoder key {key!r}')
    return out


def _head_to_upstream(sd: Dict[str, Tensor]) -> Dict[str, Tensor]:
    out = {}
    for key, value in sd.items():
        m = re.match(r'^convs\.(\d)\.conv\.(weight|bias)$', key)
        if m:
            idx, param = int(m.group(1)) + 1, m.group(2)
            out[f'linear_c{idx}.proj.{param}'] = value[:, :, 0, 0] if param == 'weight' \
                else value
        elif key.startswith('fusion_conv.conv.'):
            out['linear_fuse.0.' + key[len('fusion_conv.conv.'):]] = value
        elif key.startswith('fusion_conv.bn.'):
            out['linear_fuse.1.' + key[len('fusion_conv.bn.'):]] = value
        elif key.startswith('conv_seg.'):
            out['linear_pred.' + key[len('conv_seg.'):]] = value
        else:
            raise KeyError(f'unexpected AllMLPHead key {key!r}')
    return out


def _check_all_used(state_dict: Dict[str, Tensor], used: set, what: str) -> None:
    left = sorted(set(state_dict) - used)
    if left:
        raise KeyError(f'{len(left)} {what} keys have no mapping, e.g. {left[:5]}')


def upstream_to_native(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Convert an upstream TruFor ``state_dict`` to :class:`TruFor`'s keys and shapes."""
    state_dict = {k[len('module.'):] if k.startswith('module.') else k: v
                  for k, v in state_dict.items()}
    out: Dict[str, Tensor] = {}
    used = set()
    backbone = _split(state_dict, 'backbone.')
    for stream, prefix in (('rgb', ''), ('extra', 'extra_')):
        for key, value in segformer_to_mmseg(backbone, prefix).items():
            out[f'backbone.{stream}.{key}'] = value
    used |= {k for k in state_dict if _MIT_UPSTREAM.match(k)}
    for key, value in state_dict.items():
        if key.startswith(('backbone.FRMs.', 'backbone.FFMs.')):
            out[key] = value
            used.add(key)
        elif key.startswith(_PATCHED_ADAPTER):
            out['modality_adapter.' + key[len(_PATCHED_ADAPTER):]] = value
            used.add(key)
        elif key.startswith('dncnn.modality.'):
            out[_MODALITY + key[len('dncnn.modality.'):]] = value
            used.add(key)
        elif key.startswith('dncnn.'):
            out[_MODALITY + 'dncnn.' + key[len('dncnn.'):]] = value
            used.add(key)
        elif key.startswith('detection.'):
            out['detection_head.mlp.' + key[len('detection.'):]] = value
            used.add(key)
    for upstream, native in _HEADS:
        head = _split(state_dict, upstream)
        for key, value in _head_to_native(head).items():
            out[native + key] = value
        used |= {upstream + k for k in head}
    _check_all_used(state_dict, used, 'upstream TruFor')
    return out


def native_to_upstream(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """Convert a :class:`TruFor` ``state_dict`` to the upstream TruFor layout.

    A Noiseprint++ model maps to the official layout exactly. A DiffusionPrint model maps
    to the layout of an upstream TruFor patched by ``adapters.trufor``.
    """
    out: Dict[str, Tensor] = {}
    used = set()
    for stream, prefix in (('rgb', ''), ('extra', 'extra_')):
        part = _split(state_dict, f'backbone.{stream}.')
        for key, value in mmseg_to_segformer(part, prefix).items():
            out['backbone.' + key] = value
        used |= {f'backbone.{stream}.{k}' for k in part}
    modality = _split(state_dict, _MODALITY)
    single = modality.get('dncnn.47.weight', torch.empty(1, 1)).shape[0] == 1 and \
        set(modality) == {k for k in modality if k.startswith('dncnn.')}
    for key, value in state_dict.items():
        if key.startswith(('backbone.FRMs.', 'backbone.FFMs.')):
            out[key] = value
        elif key.startswith(_MODALITY):
            rest = key[len(_MODALITY):]
            out[('dncnn.' + rest[len('dncnn.'):]) if single else 'dncnn.modality.' + rest] = value
        elif key.startswith('modality_adapter.'):
            out[_PATCHED_ADAPTER + key[len('modality_adapter.'):]] = value
        elif key.startswith('detection_head.mlp.'):
            out['detection.' + key[len('detection_head.mlp.'):]] = value
        else:
            continue
        used.add(key)
    for upstream, native in _HEADS:
        head = _split(state_dict, native)
        for key, value in _head_to_upstream(head).items():
            out[upstream + key] = value
        used |= {native + k for k in head}
    _check_all_used(state_dict, used, 'native TruFor')
    return out


def split_checkpoint(obj) -> Tuple[Dict[str, Tensor], dict]:
    """``(state_dict, rest)`` of a loaded checkpoint (``state_dict`` wrapper or bare)."""
    if isinstance(obj, dict) and isinstance(obj.get('state_dict'), dict):
        return obj['state_dict'], {k: v for k, v in obj.items() if k != 'state_dict'}
    if isinstance(obj, dict) and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj, {}
    raise ValueError('expected a checkpoint dict with "state_dict" or a bare state_dict')
