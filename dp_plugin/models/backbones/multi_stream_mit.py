"""Base of the CMX encoders: an RGB MiT and extra MiT streams fused after every stage."""
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule, ModuleList
from mmseg.models.backbones import MixVisionTransformer
from mmseg.models.utils import nlc_to_nchw

from ..converters.mit_keys import inflate_input_channels, load_mit_checkpoint
from ..fusion import FeatureFusionModule, FeatureRectifyModule


class MultiStreamMiT(BaseModule):
    """What the CMX encoders share: MiT streams, their fusion blocks and ImageNet weights.

    Builds the RGB stream ``rgb`` (an mmseg :class:`MixVisionTransformer`) and keeps the
    MiT and fusion settings, so that a subclass builds its extra streams with
    :meth:`new_stream` and one :class:`FeatureRectifyModule` / :class:`FeatureFusionModule`
    per stage with :meth:`new_rectifiers` / :meth:`new_fusions`, lists its streams in
    :meth:`streams`, and runs them stage by stage with :meth:`run_stage`.
    :class:`DualMixVisionTransformer` (TruFor, one extra stream) and
    :class:`LateFusionMultiMiT` (MMFusion late fusion, one per modality) derive from it.

    Args:
        in_channels (int): RGB stream input channels. Defaults to 3.
        embed_dims (int): Base width; stage ``i`` has ``embed_dims * num_heads[i]``.
        num_layers, num_heads, patch_sizes, strides, sr_ratios, mlp_ratio, qkv_bias,
        drop_rate, attn_drop_rate, drop_path_rate, norm_cfg, act_cfg: As in
            :class:`MixVisionTransformer`; the defaults are MiT-B2.
        fusion_reduction (int): Reduction of FRM/FFM. Defaults to 1.
        fusion_norm_cfg (dict): Norm of the FFM channel embedding. Defaults to BN.
        pretrained (str, optional): Local ImageNet MiT weights (SegFormer or mmseg layout)
            loaded into every stream by :meth:`init_weights`. Where a stream's input width
            differs from the checkpoint's, its first kernel is inflated
            (:func:`inflate_input_channels`).
        init_cfg (dict, optional): As in :class:`BaseModule`.
    """

    def __init__(self,
                 in_channels: int = 3,
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
        self._mit_cfg = dict(embed_dims=embed_dims, num_stages=len(num_layers),
                             num_layers=list(num_layers), num_heads=list(num_heads),
                             patch_sizes=list(patch_sizes), strides=list(strides),
                             sr_ratios=list(sr_ratios), mlp_ratio=mlp_ratio,
                             qkv_bias=qkv_bias, drop_rate=drop_rate,
                             attn_drop_rate=attn_drop_rate, drop_path_rate=drop_path_rate,
                             norm_cfg=norm_cfg, act_cfg=act_cfg)
        self._fusion_cfg = dict(reduction=fusion_reduction, norm_cfg=fusion_norm_cfg)
        self.rgb = self.new_stream(in_channels)
        self.in_channels = in_channels
        self.num_stages = len(num_layers)
        #: Width of every stage of every stream.
        self.stage_dims: List[int] = [embed_dims * h for h in num_heads]
        self.pretrained = pretrained

    # building blocks -----------------------------------------------------------------
    def new_stream(self, in_channels: int) -> MixVisionTransformer:
        """A MiT with this encoder's settings taking ``in_channels`` inputs."""
        return MixVisionTransformer(in_channels=in_channels, **self._mit_cfg)

    def new_rectifiers(self) -> ModuleList:
        """One :class:`FeatureRectifyModule` per stage."""
        return ModuleList(FeatureRectifyModule(dim, reduction=self._fusion_cfg['reduction'])
                          for dim in self.stage_dims)

    def new_fusions(self) -> ModuleList:
        """One :class:`FeatureFusionModule` per stage."""
        return ModuleList(FeatureFusionModule(dim, num_heads=heads, **self._fusion_cfg)
                          for dim, heads in zip(self.stage_dims, self._mit_cfg['num_heads']))

    def streams(self) -> List[Tuple[str, MixVisionTransformer]]:
        """``(name, stream)`` of every MiT stream, RGB first (for weights and messages)."""
        raise NotImplementedError

    @staticmethod
    def run_stage(stream: MixVisionTransformer, stage: int,
                   x: torch.Tensor) -> torch.Tensor:
        """Stage ``stage`` of ``stream``: patch embedding, blocks, norm; NCHW in and out."""
        patch_embed, blocks, norm = stream.layers[stage]
        x, hw_shape = patch_embed(x)
        for block in blocks:
            x = block(x, hw_shape)
        return nlc_to_nchw(norm(x), hw_shape)

    # weights -------------------------------------------------------------------------
    def init_weights(self) -> None:
        super().init_weights()
        if self.pretrained:
            self.load_pretrained(self.pretrained)

    def load_pretrained(self, filename: str) -> None:
        """Load local ImageNet MiT weights into every stream.

        The first patch embedding of each stream is inflated (or reduced) when its input
        width differs from the checkpoint's; any other shape mismatch is an error.
        """
        state = load_mit_checkpoint(filename)
        streams = self.streams()
        for name, stream in streams:
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
        print_log(f'loaded MiT weights from {filename} into {len(streams)} streams '
                  f'({", ".join(name for name, _ in streams)})', logger='current')
