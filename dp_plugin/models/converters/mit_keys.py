"""Key conversion between SegFormer-layout MiT weights and mmseg's MixVisionTransformer.

SegFormer's official ``mit_b*.pth`` files, and the two encoder streams of TruFor / CMX
(``patch_embed1``, ``block1.0.attn.q``, ``extra_block1...``), name the MiT differently
from :class:`mmseg.models.backbones.MixVisionTransformer` (``layers.0.0.projection``,
``layers.0.1.0.attn.attn.in_proj_weight``, ...). These functions translate one layout
into the other for one stream; ``prefix`` selects the stream (``''`` or ``'extra_'``).
"""
import re
from typing import Dict, Tuple

import torch

from dp_plugin.utils.checkpoint_reader import CheckpointFormatError, read_weights
from .key_map import KeyMap, Rule

Tensor = torch.Tensor
#: What :func:`load_mit_checkpoint` accepts (for its error messages).
MIT_FORMAT = ('MiT weights in SegFormer ("patch_embed1.proj.weight") or mmseg '
              '("layers.0.0.projection.weight") layout, .pth or .safetensors')

#: The parts of MiT stage ``s``, in the order of mmseg's ``layers[s - 1]``.
_PARTS = ('patch_embed', 'block', 'norm')
#: SegFormer -> mmseg names inside each part (inside a block: after its index).
#: SegFormer's separate attention ``q`` / ``kv`` are mmseg's one ``in_proj`` (merged /
#: split by the two functions below).
_INNER = {
    'patch_embed': KeyMap([('proj.', 'projection.'), ('norm.', 'norm.')]),
    'block': KeyMap([
        ('norm1.', 'norm1.'),
        ('norm2.', 'norm2.'),
        ('attn.proj.', 'attn.attn.out_proj.'),
        ('attn.sr.', 'attn.sr.'),
        ('attn.norm.', 'attn.norm.'),
        Rule('mlp.fc1.', 'ffn.layers.0.', linear_as_conv=True),  # nn.Linear upstream
        ('mlp.dwconv.dwconv.', 'ffn.layers.1.'),
        Rule('mlp.fc2.', 'ffn.layers.4.', linear_as_conv=True),
    ]),
    'norm': KeyMap([('weight', 'weight'), ('bias', 'bias')]),
}
_QKV = ('attn.q.', 'attn.kv.')
_IN_PROJ = 'attn.attn.in_proj_'


def is_segformer_layout(state_dict: Dict[str, Tensor], prefix: str = '') -> bool:
    """Whether ``state_dict`` holds a SegFormer-layout stream named with ``prefix``."""
    return f'{prefix}patch_embed1.proj.weight' in state_dict


def is_mmseg_layout(state_dict: Dict[str, Tensor]) -> bool:
    """Whether ``state_dict`` holds an mmseg MixVisionTransformer."""
    return 'layers.0.0.projection.weight' in state_dict


def _split_block(part: str, rest: str) -> Tuple[str, str]:
    """``('block', '2.attn.sr.weight')`` -> ``('2.', 'attn.sr.weight')``; other parts: no index."""
    if part != 'block':
        return '', rest
    idx, rest = rest.split('.', 1)
    return idx + '.', rest


def segformer_to_mmseg(state_dict: Dict[str, Tensor], prefix: str = '') -> Dict[str, Tensor]:
    """Extract one SegFormer-layout stream (``{prefix}patch_embed1...``) in mmseg layout.

    Keys of other streams or modules are ignored. ``attn.q`` and ``attn.kv`` are merged
    into ``attn.attn.in_proj_{weight,bias}``; the MixFFN linears become 1x1 convolutions.
    """
    out: Dict[str, Tensor] = {}
    pat = re.compile(rf'^{re.escape(prefix)}(patch_embed|block|norm)(\d)\.(.*)$')
    q_parts: Dict[str, Dict[str, Tensor]] = {}
    for key, value in state_dict.items():
        m = pat.match(key)
        if m is None:
            continue
        part, stage = m.group(1), int(m.group(2)) - 1
        idx, rest = _split_block(part, m.group(3))
        head = f'layers.{stage}.{_PARTS.index(part)}.{idx}'
        if rest.startswith(_QKV):
            module, param = rest.rsplit('.', 1)
            q_parts.setdefault(f'{head}{_IN_PROJ}{param}', {})[module] = value
            continue
        renamed = _INNER[part].convert_key(rest, value, inverse=False)
        if renamed is None:
            if part == 'patch_embed':
                continue  # e.g. an adapter attached to the patch embedding
            raise KeyError(f'unexpected MiT key {key!r}')
        out[head + renamed[0]] = renamed[1]
    for key, parts in q_parts.items():
        if set(parts) != {'attn.q', 'attn.kv'}:
            raise KeyError(f'{key}: needs both attn.q and attn.kv, found {sorted(parts)}')
        out[key] = torch.cat((parts['attn.q'], parts['attn.kv']), dim=0)
    return out


def mmseg_to_segformer(state_dict: Dict[str, Tensor], prefix: str = '') -> Dict[str, Tensor]:
    """Inverse of :func:`segformer_to_mmseg` for one mmseg MixVisionTransformer."""
    out: Dict[str, Tensor] = {}
    pat = re.compile(r'^layers\.(\d+)\.([012])\.(.*)$')
    for key, value in state_dict.items():
        m = pat.match(key)
        if m is None:
            raise KeyError(f'unexpected mmseg MiT key {key!r}')
        part = _PARTS[int(m.group(2))]
        idx, rest = _split_block(part, m.group(3))
        head = f'{prefix}{part}{int(m.group(1)) + 1}.{idx}'
        if rest.startswith(_IN_PROJ):
            param, dim = rest[len(_IN_PROJ):], value.shape[0] // 3
            out[f'{head}{_QKV[0]}{param}'] = value[:dim]
            out[f'{head}{_QKV[1]}{param}'] = value[dim:]
            continue
        renamed = _INNER[part].convert_key(rest, value, inverse=True)
        if renamed is None:
            raise KeyError(f'unexpected mmseg MiT key {key!r}')
        out[head + renamed[0]] = renamed[1]
    return out


def inflate_input_channels(weight: Tensor, in_channels: int) -> Tensor:
    """Adapt a conv kernel ``(O, I, k, k)`` pretrained on ``I`` inputs to ``in_channels``.

    The mean kernel over the pretrained inputs is repeated ``in_channels`` times and
    scaled by ``I / in_channels``, so an input whose channels are all equal gives the
    same response as the pretrained kernel did on that grey image. Returns ``weight``
    unchanged when the widths already match.
    """
    if weight.dim() != 4:
        raise ValueError(f'expected a conv kernel (O, I, k, k), got shape {tuple(weight.shape)}')
    old = weight.shape[1]
    if old == in_channels:
        return weight
    mean = weight.mean(dim=1, keepdim=True)
    return mean.repeat(1, in_channels, 1, 1) * (old / in_channels)


def load_mit_checkpoint(filename: str) -> Dict[str, torch.Tensor]:
    """Read MiT weights from a local file, in mmseg layout.

    Accepts SegFormer's ImageNet ``mit_b*.pth`` (``patch_embed1.proj.weight``, ...), an
    mmseg MiT (``layers.0.0.projection.weight``), either one wrapped in ``state_dict`` /
    ``model`` or under a ``backbone.`` prefix, and ``.safetensors`` files.
    """
    state, _ = read_weights(filename, MIT_FORMAT, 'MiT weights')
    for wrapper in ('state_dict', 'model'):
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict):
        raise CheckpointFormatError(filename, f'a {type(state).__name__}, not a state_dict',
                                    MIT_FORMAT, 'MiT weights')
    if any(k.startswith('backbone.') for k in state):
        state = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    if is_segformer_layout(state):
        return segformer_to_mmseg(state)
    if is_mmseg_layout(state):
        return {k: v for k, v in state.items() if k.startswith('layers.')}
    raise CheckpointFormatError(filename, 'not a MiT checkpoint (neither layout found)',
                                MIT_FORMAT, 'MiT weights')
