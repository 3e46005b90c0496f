"""Per-part LayerNorm epsilons of MiT encoders, for upstream-exact inference.

mmseg's :class:`MixVisionTransformer` builds every LayerNorm from one ``norm_cfg``. The
upstream codebases do not: SegFormer-derived code (TruFor) keeps PyTorch's default
``eps=1e-5`` in the patch embeddings and in the attention's spatial-reduction norm while
the blocks use 1e-6; MMFusion sets every ``nn.LayerNorm`` to 1e-3 at initialisation but
its noise-stream patch embeddings are a channel-first LayerNorm that keeps 1e-6, and its
CMX fusion LayerNorms get 1e-3 too. ``norm_eps`` maps a part to the eps it must use.
"""
from typing import Dict, Iterable, List, Optional

import torch.nn as nn
from mmseg.models.backbones import MixVisionTransformer

#: Parts whose LayerNorm eps can be set.
NORM_EPS_PARTS = ('rgb_patch_embed', 'extra_patch_embed', 'attn_sr', 'fusion_cross')


def _patch_embed_norms(stream: MixVisionTransformer) -> List[nn.LayerNorm]:
    return [layer[0].norm for layer in stream.layers]


def _sr_norms(stream: MixVisionTransformer) -> List[nn.LayerNorm]:
    return [block.attn.norm for layer in stream.layers for block in layer[1]
            if getattr(block.attn, 'sr_ratio', 1) > 1]


def apply_norm_eps(rgb: MixVisionTransformer, extras: Iterable[MixVisionTransformer],
                   fusions: Iterable[nn.Module], norm_eps: Optional[Dict[str, float]]) -> None:
    """Set the eps of the LayerNorms of each part named in ``norm_eps``.

    Parts: ``rgb_patch_embed`` / ``extra_patch_embed`` (the patch-embedding norms of the
    RGB / modality streams), ``attn_sr`` (the spatial-reduction norm of every attention,
    all streams) and ``fusion_cross`` (the two LayerNorms of every FFM cross path).
    """
    if not norm_eps:
        return
    unknown = sorted(set(norm_eps) - set(NORM_EPS_PARTS))
    if unknown:
        raise ValueError(f'norm_eps: unknown parts {unknown}; choose from {NORM_EPS_PARTS}')
    extras = list(extras)
    norms = {'rgb_patch_embed': _patch_embed_norms(rgb),
             'extra_patch_embed': [n for s in extras for n in _patch_embed_norms(s)],
             'attn_sr': [n for s in [rgb] + extras for n in _sr_norms(s)],
             'fusion_cross': [n for f in fusions for n in (f.cross.norm1, f.cross.norm2)]}
    for part, eps in norm_eps.items():
        if not float(eps) > 0:
            raise ValueError(f'norm_eps[{part!r}] must be positive, got {eps!r}')
        for norm in norms[part]:
            if not isinstance(norm, nn.LayerNorm):
                raise TypeError(f'norm_eps[{part!r}]: expected LayerNorms, found '
                                f'{type(norm).__name__}')
            norm.eps = float(eps)
