"""Dual-stream Mix Vision Transformer with CMX fusion (the TruFor / CMX encoder)."""
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from mmseg.models.backbones import MixVisionTransformer

from dp_plugin.registry import MODELS
from .multi_stream_mit import MultiStreamMiT
from .norm_eps import apply_norm_eps

_PARTS = {'patch_embed': 0, 'block': 1, 'norm': 2}


def _alias(name: str) -> Optional[Tuple[str, int, int]]:
    """``'extra_block3'`` -> ``('extra', 2, 1)``: upstream name -> (stream, stage, part)."""
    stream = 'rgb'
    if name.startswith('extra_'):
        stream, name = 'extra', name[len('extra_'):]
    for part, idx in _PARTS.items():
        if name.startswith(part) and name[len(part):].isdigit():
            return stream, int(name[len(part):]) - 1, idx
    return None


@MODELS.register_module()
class DualMixVisionTransformer(MultiStreamMiT):
    """Two MiT encoders (RGB + an extra modality) fused after every stage, as in CMX/TruFor.

    Both streams are mmseg :class:`MixVisionTransformer` instances driven stage by stage.
    After stage ``i`` a :class:`FeatureRectifyModule` corrects each stream with the other;
    the rectified streams feed stage ``i + 1`` and a :class:`FeatureFusionModule` merges
    them into the stage output. The upstream attribute names (``patch_embed1``,
    ``extra_patch_embed1``, ``block1``, ``extra_norm4``, ...) resolve to the matching
    mmseg sub-modules, for reading and for assignment.

    Args:
        in_channels (int): RGB stream input channels. Defaults to 3.
        extra_in_channels (int): Extra stream input channels: 3 for a tiled Noiseprint++
            or an adapted DiffusionPrint map, 64 for the ``widen`` adapter.
        norm_eps (dict, optional): LayerNorm eps per part, overriding ``norm_cfg``
            (see :func:`~dp_plugin.models.backbones.norm_eps.apply_norm_eps`); TruFor's
            upstream-exact configs set ``rgb_patch_embed``, ``extra_patch_embed`` and
            ``attn_sr`` to 1e-5.
        **kwargs: The MiT (MiT-B2 defaults), fusion and ``pretrained`` arguments of
            :class:`MultiStreamMiT`; ``pretrained`` ImageNet weights go to both streams,
            the extra stream's first kernel inflated to ``extra_in_channels``.
    """

    def __init__(self,
                 in_channels: int = 3,
                 extra_in_channels: int = 3,
                 norm_eps: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(in_channels=in_channels, **kwargs)
        self.extra = self.new_stream(extra_in_channels)
        self.extra_in_channels = extra_in_channels
        self.out_channels: List[int] = list(self.stage_dims)
        self.FRMs = self.new_rectifiers()
        self.FFMs = self.new_fusions()
        apply_norm_eps(self.rgb, [self.extra], self.FFMs, norm_eps)

    def streams(self) -> List[Tuple[str, MixVisionTransformer]]:
        return [('rgb', self.rgb), ('extra', self.extra)]

    # upstream attribute names ------------------------------------------------------
    def __getattr__(self, name: str):
        alias = _alias(name) if not name.startswith('_') else None
        if alias is not None and '_modules' in self.__dict__:
            stream, stage, part = alias
            modules = self.__dict__['_modules']
            if stream in modules and stage < len(modules[stream].layers):
                return modules[stream].layers[stage][part]
        return super().__getattr__(name)

    def __setattr__(self, name: str, value) -> None:
        alias = _alias(name)
        if alias is not None and isinstance(value, nn.Module) and hasattr(self, 'extra'):
            stream, stage, part = alias
            getattr(self, stream).layers[stage][part] = value
            return
        super().__setattr__(name, value)

    # forward -----------------------------------------------------------------------
    def forward(self, x_rgb: torch.Tensor, x_extra: torch.Tensor) -> List[torch.Tensor]:
        """Encode ``(B, in_channels, H, W)`` RGB and ``(B, extra_in_channels, H, W)``.

        Returns the four fused maps at 1/4, 1/8, 1/16 and 1/32 resolution.
        """
        if x_extra.shape[1] != self.extra_in_channels:
            raise ValueError(f'the extra stream expects {self.extra_in_channels} channels, '
                             f'got {x_extra.shape[1]} (set extra_in_channels or an adapter)')
        if x_rgb.shape[-2:] != x_extra.shape[-2:]:
            raise ValueError(f'RGB {tuple(x_rgb.shape)} and extra {tuple(x_extra.shape)} '
                             'inputs must have the same height and width')
        outs = []
        for i in range(self.num_stages):
            x_rgb = self.run_stage(self.rgb, i, x_rgb)
            x_extra = self.run_stage(self.extra, i, x_extra)
            x_rgb, x_extra = self.FRMs[i](x_rgb, x_extra)
            outs.append(self.FFMs[i](x_rgb, x_extra))
        return outs
