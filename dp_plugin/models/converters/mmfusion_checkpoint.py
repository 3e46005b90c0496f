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
the late-fusion streams) are permuted to ``order``. :func:`native_to_upstream` is the
inverse (back to upstream's order).

Upstream's heads have no fusion-conv bias; the native heads are built without one
(``fusion_conv_bias=False`` in the MMFusion configs), so nothing is invented here.
"""
import re
from typing import Dict, List, Optional, Sequence, Set, Tuple

import torch

from .key_map import KeyMap, Rule, check_all_used, strip_module, sub_dict
from .mit_keys import mmseg_to_segformer, segformer_to_mmseg
from .trufor_checkpoint import segformer_head

Tensor = torch.Tensor
#: Upstream's fixed modality order.
UPSTREAM_ORDER = ('noiseprint', 'bayar', 'srm')
_PATCHED = 'noiseprint.modality.'
#: Upstream extractor keys <-> the native ``modal_extractor`` (a patched DiffusionPrint
#: comes first: its keys also start with ``noiseprint.``).
_EXTRACTOR = KeyMap([
    (_PATCHED, 'modal_extractor.diffusionprint.'),
    ('noiseprint.', 'modal_extractor.noiseprint.dncnn.'),
    ('bayar.kernel', 'modal_extractor.bayar.kernel'),
    ('srm.filters', 'modal_extractor.srm.filters'),
])
_HEADS = ('decode_head', 'conf_head')
#: The two SegFormer heads and the detection MLP (MMFusion's fusion conv / BN names).
_OUTPUTS = KeyMap([('detection.', 'detection.mlp.')] +
                  [Rule(f'{h}.', f'{h}.', inner=segformer_head('linear_fuse.conv.',
                                                              'linear_fuse.bn.'))
                   for h in _HEADS])


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
    if patched:
        mixed = [k for k in sd if k.startswith('noiseprint.') and not k.startswith(_PATCHED)]
        if mixed:
            raise KeyError(f'mixed patched/unpatched noiseprint keys, e.g. {mixed[0]!r}')
    out, used = _EXTRACTOR.to_native(sd)
    check_all_used(sd, used, 'extractor')
    return out


def _outputs_to_upstream(state_dict: Dict[str, Tensor]) -> Tuple[Dict[str, Tensor], Set[str]]:
    """The heads and detection MLP in upstream's layout, and the native keys used.

    Upstream's heads have no fusion-conv bias: an all-zero one is dropped, any other is
    an error.
    """
    dropped = set()
    for head in _HEADS:
        key = f'{head}.fusion_conv.conv.bias'
        if key in state_dict and state_dict[key].any():
            raise ValueError(f'{key} is non-zero: upstream MMFusion\'s head has no such bias '
                             '(build the head with fusion_conv_bias=False)')
        dropped.add(key)
    out, used = _OUTPUTS.to_upstream({k: v for k, v in state_dict.items() if k not in dropped})
    return out, used | (dropped & set(state_dict))


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
    state_dict = strip_module(state_dict)
    extractor_state_dict = strip_module(extractor_state_dict)
    present, patched = extractor_slots(extractor_state_dict)
    native_names = ['diffusionprint' if (s == 'noiseprint' and patched) else s for s in present]
    order = list(order) if order is not None else native_names
    if sorted(order) != sorted(native_names):
        raise ValueError(f'order {order} does not match the checkpoint modalities '
                         f'{native_names}')
    perm = [order.index(n) for n in native_names]  # upstream index -> native index
    out = _extractor_to_native(extractor_state_dict, patched)
    used = set()
    backbone = sub_dict(state_dict, 'backbone.')
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
    outputs, outputs_used = _OUTPUTS.to_native(state_dict)
    out.update(outputs)
    check_all_used(state_dict, used | outputs_used, 'upstream MMFusion')
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


def _native_slots(state_dict: Dict[str, Tensor]) -> List[str]:
    """Slots of ``modal_extractor`` in model order (the order of their first keys)."""
    slots: List[str] = []
    for key in state_dict:
        if key.startswith('modal_extractor.'):
            slot = key.split('.')[1]
            if slot not in slots:
                slots.append(slot)
    return slots


def _extractor_to_upstream(state_dict: Dict[str, Tensor]) -> Dict[str, Tensor]:
    native = {k: v for k, v in state_dict.items() if k.startswith('modal_extractor.')}
    out, used = _EXTRACTOR.to_upstream(native)
    for key in native:
        if key not in used:
            raise KeyError(f'{key}: upstream MMFusion has no place for it (slots are '
                           f'{list(UPSTREAM_ORDER)}, DiffusionPrint in the noiseprint slot)')
    return out


def native_to_upstream(state_dict: Dict[str, Tensor]
                       ) -> Tuple[Dict[str, Tensor], Dict[str, Tensor]]:
    """Convert an :class:`MMFusion` ``state_dict`` to upstream's two dicts.

    Inverse of :func:`upstream_to_native`: returns ``(state_dict, extractor_state_dict)``
    in upstream's layout and modality order (``noiseprint`` (or a DiffusionPrint in that
    slot), ``bayar``, ``srm``), whatever the native order. The heads must have no fusion
    conv bias (or an all-zero one), as upstream's.
    """
    slots = _native_slots(state_dict)
    kinds = ['noiseprint' if s == 'diffusionprint' else s for s in slots]
    if sorted(kinds) != sorted(set(kinds)) or not set(kinds) <= set(UPSTREAM_ORDER):
        raise ValueError(f'modalities {slots} have no upstream MMFusion layout (at most one '
                         f'each of {list(UPSTREAM_ORDER)}, DiffusionPrint replacing noiseprint)')
    upstream = [k for k in UPSTREAM_ORDER if k in kinds]
    to_up = [upstream.index(k) for k in kinds]  # native index -> upstream index
    ext = _extractor_to_upstream(state_dict)
    out: Dict[str, Tensor] = {}
    used = {k for k in state_dict if k.startswith('modal_extractor.')}
    rgb = sub_dict(state_dict, 'backbone.rgb.')
    out.update({'backbone.' + k: v for k, v in mmseg_to_segformer(rgb).items()})
    used |= {'backbone.rgb.' + k for k in rgb}
    late = any(re.match(r'^backbone\.extra\.\d+\.layers\.', k) for k in state_dict)
    if late:
        for m in range(len(slots)):
            stream = sub_dict(state_dict, f'backbone.extra.{m}.')
            out.update({f'backbone.extra.{to_up[m]}.{k}': v
                        for k, v in mmseg_to_segformer(stream).items()})
            used |= {f'backbone.extra.{m}.{k}' for k in stream}
            for kind in ('FRMs', 'FFMs'):
                part = sub_dict(state_dict, f'backbone.{kind}.{m}.')
                out.update({f'backbone.extra.{to_up[m]}.{kind}.{k}': v for k, v in part.items()})
                used |= {f'backbone.{kind}.{m}.{k}' for k in part}
    else:
        extra = sub_dict(state_dict, 'backbone.extra.')
        for key, value in mmseg_to_segformer(extra, 'extra_').items():
            m = re.match(r'^extra_patch_embed(\d)\.(proj|norm)\.(.*)$', key)
            if m:
                inner = 'proj.module' if m.group(2) == 'proj' else 'norm.ln_0'
                key = f'extra_downsample_layers.{int(m.group(1)) - 1}.{inner}.{m.group(3)}'
            out['backbone.' + key] = value
        used |= {'backbone.extra.' + k for k in extra}
        widths = [state_dict[f'backbone.modal_mix.blocks.{n}.final.weight'].shape[0]
                  for n in range(len(slots))]
        for key, value in state_dict.items():
            if key.startswith(('backbone.FRMs.', 'backbone.FFMs.')):
                out[key] = value
            elif key.startswith('backbone.modal_mix.blocks.'):
                _, _, _, n, rest = key.split('.', 4)
                out[f'backbone.modal_mix.blocks.{to_up[int(n)]}.{rest}'] = value
            elif key == 'backbone.modal_mix.mixer.convs.0.0.weight':
                out[key] = _permute_groups(value, widths, to_up)
            elif key.startswith('backbone.modal_mix.'):
                out[key] = value
            else:
                continue
            used.add(key)
    outputs, outputs_used = _outputs_to_upstream(state_dict)
    out.update(outputs)
    check_all_used(state_dict, used | outputs_used, 'native MMFusion')
    return out, ext
