"""Key conversion between SegFormer-layout MiT weights and mmseg's MixVisionTransformer.

SegFormer's official ``mit_b*.pth`` files, and the two encoder streams of TruFor / CMX
(``patch_embed1``, ``block1.0.attn.q``, ``extra_block1...``), name the MiT differently
from :class:`mmseg.models.backbones.MixVisionTransformer` (``layers.0.0.projection``,
``layers.0.1.0.attn.attn.in_proj_weight``, ...). These functions translate one layout
into the other for one stream; ``prefix`` selects the stream (``''`` or ``'extra_'``).
"""
import re
from typing import Dict

import torch

from dp_plugin.utils.checkpoint_reader import CheckpointFormatError, read_weights

Tensor = torch.Tensor
#: What :func:`load_mit_checkpoint` accepts (for its error messages).
MIT_FORMAT = ('MiT weights in SegFormer ("patch_embed1.proj.weight") or mmseg '
              '("layers.0.0.projection.weight") layout, .pth or .safetensors')

# SegFormer name inside a block -> mmseg name inside a TransformerEncoderLayer.
_BLOCK_RENAMES = {
    'norm1': 'norm1',
    'norm2': 'norm2',
    'attn.proj': 'attn.attn.out_proj',
    'attn.sr': 'attn.sr',
    'attn.norm': 'attn.norm',
    'mlp.fc1': 'ffn.layers.0',
    'mlp.dwconv.dwconv': 'ffn.layers.1',
    'mlp.fc2': 'ffn.layers.4',
}
_LINEAR_AS_CONV = ('mlp.fc1', 'mlp.fc2')  # nn.Linear upstream, 1x1 Conv2d in mmseg


def is_segformer_layout(state_dict: Dict[str, Tensor], prefix: str = '') -> bool:
    """Whether ``state_dict`` holds a SegFormer-layout stream named with ``prefix``."""
    return f'{prefix}patch_embed1.proj.weight' in state_dict


def is_mmseg_layout(state_dict: Dict[str, Tensor]) -> bool:
    """Whether ``state_dict`` holds an mmseg MixVisionTransformer."""
    return 'layers.0.0.projection.weight' in state_dict


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
        kind, stage, rest = m.group(1), int(m.group(2)) - 1, m.group(3)
        if kind == 'patch_embed':
            if not rest.startswith(('proj.', 'norm.')):
                continue  # e.g. an adapter attached to the patch embedding
            rest = rest.replace('proj.', 'projection.', 1)
            out[f'layers.{stage}.0.{rest}'] = value
        elif kind == 'norm':
            out[f'layers.{stage}.2.{rest}'] = value
        else:
            idx, name = rest.split('.', 1)
            module, param = name.rsplit('.', 1)
            base = f'layers.{stage}.1.{idx}'
            if module in ('attn.q', 'attn.kv'):
                q_parts.setdefault(f'{base}.attn.attn.in_proj_{param}', {})[module] = value
                continue
            if module not in _BLOCK_RENAMES:
                raise KeyError(f'unexpected MiT key {key!r}')
            if module in _LINEAR_AS_CONV and param == 'weight':
                value = value[:, :, None, None]
            out[f'{base}.{_BLOCK_RENAMES[module]}.{param}'] = value
    for key, parts in q_parts.items():
        if set(parts) != {'attn.q', 'attn.kv'}:
            raise KeyError(f'{key}: needs both attn.q and attn.kv, found {sorted(parts)}')
        out[key] = torch.cat((parts['attn.q'], parts['attn.kv']), dim=0)
    return out


def mmseg_to_segformer(state_dict: Dict[str, Tensor], prefix: str = '') -> Dict[str, Tensor]:
    """Inverse of :func:`segformer_to_mmseg` for one mmseg MixVisionTransformer."""
    inverse = {v: k for k, v in _BLOCK_RENAMES.items()}
    out: Dict[str, Tensor] = {}
    pat = re.compile(r'^layers\.(\d+)\.([012])\.(.*)$')
    for key, value in state_dict.items():
        m = pat.match(key)
        if m is None:
            raise KeyError(f'unexpected mmseg MiT key {key!r}')
        stage, part, rest = int(m.group(1)) + 1, m.group(2), m.group(3)
        if part == '0':
            rest = rest.replace('projection.', 'proj.', 1)
            out[f'{prefix}patch_embed{stage}.{rest}'] = value
        elif part == '2':
            out[f'{prefix}norm{stage}.{rest}'] = value
        else:
            idx, name = rest.split('.', 1)
            module, param = name.rsplit('.', 1)
            base = f'{prefix}block{stage}.{idx}'
            if module == 'attn.attn' and param.startswith('in_proj_'):
                dim = value.shape[0] // 3
                kind = param[len('in_proj_'):]
                out[f'{base}.attn.q.{kind}'] = value[:dim]
                out[f'{base}.attn.kv.{kind}'] = value[dim:]
                continue
            if module not in inverse:
                raise KeyError(f'unexpected mmseg MiT key {key!r}')
            upstream = inverse[module]
            if upstream in _LINEAR_AS_CONV and param == 'weight':
                value = value[:, :, 0, 0]
            out[f'{base}.{upstream}.{param}'] = value
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
