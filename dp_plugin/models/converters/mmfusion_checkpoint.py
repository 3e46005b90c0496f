"""State-dict mapping from upstream MMFusion checkpoints to :class:`MMFusion`.

Upstream checkpoints (``ec_train.py`` / ``ws_train.py`` and their phase-2 scripts) hold
two dicts: ``state_dict`` (the model) and ``extractor_state_dict`` (the modalities).

Early fusion (``MixCMNeXtMHSA``)::

    backbone.{patch_embed,block,norm}{1-4}.*            RGB MiT (SegFormer names)
    backbone.extra_downsample_layers.{i}.proj.module.*  extra patch embedding conv
    backbone.extra_downsample_layers.{i}.norm.ln_0.*    its channel-first LayerNorm
    backbone.extra_{block,norm}{1-4}.*                  extra MiT
    backbone.modal_mix.{blocks.{k},mixer}.*             early convs (k in upstream order)
    backbone.{FRMs,FFMs}.{i}.*
    {decode_head,conf_head}.{linear_c{1-4}.proj,linear_fuse.{conv,bn},linear_pred}.*
    detection.{0,3}.*

Late fusion (``WSCMNeXtMHSA``): ``backbone.extra.{m}.{patch_embed,block,norm}{1-4}.*`` and
``backbone.extra.{m}.{FRMs,FFMs}.{i}.*`` per modality instead of the extra/mix keys.

Extractor: ``noiseprint.{0..47}.*`` (or ``noiseprint.modality.*`` once patched with
``adapters.mmfusion``: a DiffusionPrint in that slot), ``bayar.kernel``, ``srm.filters``.
Upstream orders modalities ``noiseprint, bayar, srm`` whatever the config says; the
native model uses its config order, so blocks (and the mixer's input channel groups, or
the late-fusion streams) are permuted to ``order``.
"""
import re
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from .mit_keys import segformer_to_mmseg
from .trufor_checkpoint import _check_all_used, _head_to_native, _split

Tensor = torch.Tensor
#: Upstream's fixed modality order.
UPSTREAM_ORDER = ('noiseprint', 'bayar', 'srm')
_PATCHED = 'noiseprint.modality.'


def _strip_module(sd: Dict[str, Tensor]) -> Dict[str, Tensor]:
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in sd.items()}


def extractor_slots(extractor_state_dict: Dict[str, Tensor]) -> Tuple[List[str], bool]:
    """Upstream slots present (in upstream order) and whether ``noiseprint`` holds a
    DiffusionPrint patched in by ``adapters.mmfusion``."""
    present = [s for s in UPSTREAM_ORDER
               if any(k.startswith(s + '.') for k in extractor_state_dict)]
    patched = any(k.startswith(_PATCHED) for k in extractor_state_dict)
    unknown = sorted({k.split('.', 1)[0] for k in extractor_state_dict} - set(UPSTREAM_ORDER))
    if unknown:
        raise KeyError(f'extractor_state_dict has unknown modalities {unknown}; expected '
                       f'{list(UPSTREAM_ORDER)}')
    return present, patched


def _extractor_to_native(sd: Dict[str, Tensor], patched: bool) -> Dict[str, Tensor]:
    out = {}
    for key, value in sd.items():
        slot, rest = key.split('.', 1)
        if slot == 'noiseprint':
            if patched:
                if not key.startswith(_PATCHED):
                    raise KeyError(f'mixed patched/unpatched noiseprint keys, e.g. {key!r}')
                out['modal_extractor.diffusionprint.' + key[len(_PATCHED):]] = value
            else:
                out['modal_extractor.noiseprint.dncnn.' + rest] = value
        elif key in ('bayar.kernel', 'srm.filters'):
            out['modal_extractor.' + key] = value
        else:
            raise KeyError(f'unexpected extractor key {key!r}')
    return out


def _head(sd: Dict[str, Tensor]) -> Dict[str, Tensor]:
    """MMFusion SegFormerHead -> :class:`AllMLPHead` (bias-free fusion conv gets a 0 bias)."""
    renamed = {}
    for key, value in sd.items():
        key = key.replace('linear_fuse.conv.', 'linear_fuse.0.', 1)
        key = key.replace('linear_fuse.bn.', 'linear_fuse.1.', 1)
        if re.match(r'^linear_c\d\.proj\.weight$', key) and value.dim() == 4:
            value = value[:, :, 0, 0]
        renamed[key] = value
    out = _head_to_native(renamed)
    weight = out.get('fusion_conv.conv.weight')
    if weight is not None and 'fusion_conv.conv.bias' not in out:
        out['fusion_conv.conv.bias'] = weight.new_zeros(weight.shape[0])
    return out


def upstream_to_native(state_dict: Dict[str, Tensor],
                       extractor_state_dict: Dict[str, Tensor],
                       order: Optional[Sequence[str]] = None) -> Dict[str, Tensor]:
    """Convert an upstream MMFusion checkpoint to :class:`MMFusion` keys and shapes.

    Args:
        state_dict: The checkpoint's ``state_dict`` (early or late fusion).
        extractor_state_dict: Its ``extractor_state_dict``.
        order: Native slot order (the config's modality order, slot names as in
            ``modal_extractor``); defaults to upstream's order of the present slots.
    """
    state_dict = _strip_module(state_dict)
    extractor_state_dict = _strip_module(extractor_state_dict)
    present, patched = extractor_slots(extractor_state_dict)
    native_names = ['diffusionprint' if (s == 'noiseprint' and patched) else s for s in present]
    order = list(order) if order is not None else native_names
    if sorted(order) != sorted(native_names):
        raise ValueError(f'order {order} does not match the checkpoint modalities '
                         f'{native_names}')
    perm = [order.index(n) for n in native_names]  # upstream index -> native index
    out = _extractor_to_native(extractor_state_dict, patched)
    used = set()
    backbone = _split(state_dict, 'backbone.')
    if any(k.startswith('extra_score_predictor.') for k in backbone):
        raise ValueError('token-selection CMNeXtMHSA checkpoints are not supported: dp_plugin '
                         'implements the early-fusion (MixCMNeXt) and late-fusion (WSCMNeXt) '
                         'variants')
    late = any(k.startswith('extra.') for k in backbone)
    for key, value in segformer_to_mmseg(backbone, '').items():
        out['backbone.rgb.' + key] = value
    used |= {k for k in state_dict
             if re.match(r'^backbone\.(patch_embed|block|norm)\d\.', k)}
    if late:
        _late_backbone(state_dict, backbone, perm, out, used)
    else:
        _early_backbone(state_dict, backbone, perm, out, used)
    for key, value in state_dict.items():
        if key.startswith('detection.'):
            out['detection.mlp.' + key[len('detection.'):]] = value
            used.add(key)
    for head in ('decode_head', 'conf_head'):
        part = _split(state_dict, head + '.')
        for key, value in _head(part).items():
            out[f'{head}.{key}'] = value
        used |= {f'{head}.{k}' for k in part}
    _check_all_used(state_dict, used, 'upstream MMFusion')
    return out


def _early_backbone(state_dict: Dict[str, Tensor], backbone: Dict[str, Tensor],
                    perm: List[int], out: Dict[str, Tensor], used: set) -> None:
    extra = {}
    for key, value in backbone.items():
        m = re.match(r'^extra_downsample_layers\.(\d)\.(proj\.module|norm\.ln_0)\.(.*)$', key)
        if m:
            part = 'proj' if m.group(2) == 'proj.module' else 'norm'
            extra[f'extra_patch_embed{int(m.group(1)) + 1}.{part}.{m.group(3)}'] = value
        elif re.match(r'^extra_(block|norm)\d\.', key):
            extra[key] = value
        elif key.startswith('extra_downsample_layers.'):
            raise KeyError(f'unexpected key backbone.{key} (more than one extra modality '
                           'after the mixer?)')
    for key, value in segformer_to_mmseg(extra, 'extra_').items():
        out['backbone.extra.' + key] = value
    used |= {k for k in state_dict if k.startswith(('backbone.extra_downsample_layers.',
                                                     'backbone.extra_block',
                                                     'backbone.extra_norm'))}
    blocks = sorted({int(k.split('.')[2]) for k in backbone if k.startswith('modal_mix.blocks.')})
    if blocks != list(range(len(perm))):
        raise ValueError(f'modal_mix has blocks {blocks} but the extractor has {len(perm)} '
                         'modalities')
    widths = [backbone[f'modal_mix.blocks.{k}.final.weight'].shape[0] for k in blocks]
    for key, value in backbone.items():
        if key.startswith(('FRMs.', 'FFMs.')):
            out['backbone.' + key] = value
        elif key.startswith('modal_mix.blocks.'):
            _, _, k, rest = key.split('.', 3)
            out[f'backbone.modal_mix.blocks.{perm[int(k)]}.{rest}'] = value
        elif key == 'modal_mix.mixer.convs.0.0.weight':
            out['backbone.' + key] = _permute_groups(value, widths, perm)
        elif key.startswith('modal_mix.'):
            out['backbone.' + key] = value
        else:
            continue
        used.add('backbone.' + key)


def _permute_groups(weight: Tensor, widths: List[int], perm: List[int]) -> Tensor:
    """Reorder the input-channel groups of the mixer's first conv to the native order."""
    starts = [sum(widths[:k]) for k in range(len(widths))]
    groups = [None] * len(widths)
    for up, native in enumerate(perm):
        groups[native] = weight[:, starts[up]:starts[up] + widths[up]]
    return torch.cat(groups, dim=1)


def _late_backbone(state_dict: Dict[str, Tensor], backbone: Dict[str, Tensor],
                   perm: List[int], out: Dict[str, Tensor], used: set) -> None:
    streams = sorted({int(k.split('.')[1]) for k in backbone if k.startswith('extra.')})
    if streams != list(range(len(perm))):
        raise ValueError(f'late-fusion checkpoint has streams {streams} but the extractor has '
                         f'{len(perm)} modalities')
    for m in streams:
        for key, value in segformer_to_mmseg(backbone, f'extra.{m}.').items():
            out[f'backbone.extra.{perm[m]}.{key}'] = value
        for key, value in backbone.items():
            fm = re.match(rf'^extra\.{m}\.(FRMs|FFMs)\.(.*)$', key)
            if fm:
                out[f'backbone.{fm.group(1)}.{perm[m]}.{fm.group(2)}'] = value
    used |= {k for k in state_dict if k.startswith('backbone.extra.')}
