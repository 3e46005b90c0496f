"""Dual-stream Mix Vision Transformer with CMX fusion (the TruFor / CMX encoder)."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModule, ModuleList
from mmseg.models.backbones import MixVisionTransformer
from mmseg.models.utils import nlc_to_nchw

from dp_plugin.registry import MODELS
from ..fusion import FeatureFusionModule, FeatureRectifyModule
from ..converters.mit_keys import inflate_input_channels, load_mit_checkpoint

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
class DualMixVisionTransformer(BaseModule):
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
        embed_dims (int): Base width; stage ``i`` has ``embed_dims * num_heads[i]``.
        num_layers, num_heads, patch_sizes, strides, sr_ratios, mlp_ratio, qkv_bias,
        drop_rate, attn_drop_rate, drop_path_rate, norm_cfg, act_cfg: As in
            :class:`MixVisionTransformer`; the defaults are MiT-B2.
        fusion_reduction (int): Reduction of FRM/FFM. Defaults to 1.
        fusion_norm_cfg (dict): Norm of the FFM channel embedding. Defaults to BN.
        pretrained (str, optional): Local ImageNet MiT weights (SegFormer or mmseg layout)
            loaded into both streams by :meth:`init_weights`. When ``extra_in_channels``
            differs from the checkpoint, that one kernel is inflated
            (:func:`inflate_input_channels`).
    """

    def __init__(self,
                 in_channels: int = 3,
                 extra_in_channels: int = 3,
                 embed_dims: int = 64,
                 num_layers: Sequence[int] = (3, 4, 6, 3),
                 num_heads: Sequence[int] = (1, 2, 5, 8),
                 patch_sizes: Sequence[int] = (7, 3, 3, 3),
                 strides: Sequence[int] = (4, 2, 2, 2),
                 sr_ratios: Sequence[int] = (8, 4, 2, 1),
                 mlp_ratio: int = 4,
                 qkv_bias: bool = True,
                 drop_rate: float = 0.,
                 attn_drop_rate: float = 0.,
                 drop_path_rate: float = 0.1,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 act_cfg: dict = dict(type='GELU'),
                 fusion_reduction: int = 1,
                 fusion_norm_cfg: dict = dict(type='BN'),
                 pretrained: Optional[str] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        common = dict(embed_dims=embed_dims, num_stages=len(num_layers),
                      num_layers=list(num_layers), num_heads=list(num_heads),
                      patch_sizes=list(patch_sizes), strides=list(strides),
                      sr_ratios=list(sr_ratios), mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                      drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                      drop_path_rate=drop_path_rate, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.rgb = MixVisionTransformer(in_channels=in_channels, **common)
        self.extra = MixVisionTransformer(in_channels=extra_in_channels, **common)
        self.in_channels = in_channels
        self.extra_in_channels = extra_in_channels
        self.num_stages = len(num_layers)
        self.out_channels: List[int] = [embed_dims * h for h in num_heads]
        self.FRMs = ModuleList(
            FeatureRectifyModule(dim, reduction=fusion_reduction) for dim in self.out_channels)
        self.FFMs = ModuleList(
            FeatureFusionModule(dim, reduction=fusion_reduction, num_heads=heads,
                                norm_cfg=fusion_norm_cfg)
            for dim, heads in zip(self.out_channels, num_heads))
        self.pretrained = pretrained

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

    # weights -----------------------------------------------------------------------
    def init_weights(self) -> None:
        super().init_weights()
        if self.pretrained:
            self.load_pretrained(self.pretrained)

    def load_pretrained(self, filename: str) -> None:
        """Load local ImageNet MiT weights into both streams.

        The first patch embedding of each stream is inflated (or reduced) when its input
        width differs from the checkpoint's; any other shape mismatch is an error.
        """
        state = load_mit_checkpoint(filename)
        for name, stream in (('rgb', self.rgb), ('extra', self.extra)):
            own = stream.state_dict()
            adapted = {}
            for key, value in state.items():
                if key not in own:
                    continue
                if key == 'layers.0.0.projection.weight':
                    value = inflate_input_channels(value, own[key].shape[1])
                if value.shape != own[key].shape:
                    raise ValueError(f'{filename}: {key} has shape {tuple(value.shape)}, the '
                                     f'{name} stream expects {tuple(own[key].shape)}')
                adapted[key] = value
            missing = sorted(set(own) - set(adapted))
            unexpected = sorted(set(state) - set(own))
            if unexpected:
                raise ValueError(f'{filename}: {len(unexpected)} MiT weights have no place in '
                                 f'the {name} stream, e.g. {unexpected[:3]} (wrong MiT variant?)')
            if missing:
                raise ValueError(f'{filename}: {len(missing)} MiT weights missing for the '
                                 f'{name} stream, e.g. {missing[:3]} (wrong MiT variant?)')
            stream.load_state_dict(adapted, strict=True)
        print_log(f'loaded MiT weights from {filename} into both streams', logger='current')

    # forward -----------------------------------------------------------------------
    def _run_stage(self, stream: MixVisionTransformer, stage: int,
                   x: torch.Tensor) -> torch.Tensor:
        patch_embed, blocks, norm = stream.layers[stage]
        x, hw_shape = patch_embed(x)
        for block in blocks:
            x = block(x, hw_shape)
        return nlc_to_nchw(norm(x), hw_shape)

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
            x_rgb = self._run_stage(self.rgb, i, x_rgb)
            x_extra = self._run_stage(self.extra, i, x_extra)
            x_rgb, x_extra = self.FRMs[i](x_rgb, x_extra)
            outs.append(self.FFMs[i](x_rgb, x_extra))
        return outs
