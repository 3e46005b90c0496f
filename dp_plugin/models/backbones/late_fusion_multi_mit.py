"""MMFusion's late-fusion encoder: one CMX noise stream per modality, outputs concatenated."""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModule, ModuleList
from mmseg.models.backbones import MixVisionTransformer
from mmseg.models.utils import nlc_to_nchw

from dp_plugin.registry import MODELS
from ..fusion import FeatureFusionModule, FeatureRectifyModule
from ..converters.mit_keys import inflate_input_channels, load_mit_checkpoint


def _run_stage(stream: MixVisionTransformer, stage: int, x: torch.Tensor) -> torch.Tensor:
    patch_embed, blocks, norm = stream.layers[stage]
    x, hw_shape = patch_embed(x)
    for block in blocks:
        x = block(x, hw_shape)
    return nlc_to_nchw(norm(x), hw_shape)


@MODELS.register_module()
class LateFusionMultiMiT(BaseModule):
    """MMFusion's late-fusion (``WSCMNeXtMHSA``) encoder on mmseg MiT streams.

    One RGB MiT (``rgb``, weights shared by all pairs) and, per modality ``m``, a full
    MiT ``extra[m]`` whose first patch embedding takes that modality's width (64 for
    DiffusionPrint: no projection in between), with its own ``FRMs[m][i]`` /
    ``FFMs[m][i]``. Every pair runs its own RGB trajectory (the RGB stream is rectified
    per modality, as upstream). Stage ``i`` returns the ``M`` fused maps concatenated
    (``M * dims[i]`` channels) after ``Dropout(stage_dropout)``, so the decoder widths
    are the MiT widths times ``M``.

    Args:
        modal_channels (sequence of int): Output channels of each modality, in the
            model's modality order (filled in by :class:`MMFusion`).
        stage_dropout (float): Dropout on each concatenated stage output. Defaults to 0.33.
        pretrained (str, optional): Local ImageNet MiT weights loaded into the RGB stream
            and every modality stream (first kernels inflated to the modality width).
        Other arguments: as :class:`DualMixVisionTransformer` (MiT-B2 defaults).
    """

    def __init__(self,
                 modal_channels: Sequence[int],
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
                 stage_dropout: float = 0.33,
                 pretrained: Optional[str] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.modal_channels = [int(c) for c in modal_channels]
        if not self.modal_channels:
            raise ValueError('LateFusionMultiMiT needs at least one modality')
        common = dict(embed_dims=embed_dims, num_stages=len(num_layers),
                      num_layers=list(num_layers), num_heads=list(num_heads),
                      patch_sizes=list(patch_sizes), strides=list(strides),
                      sr_ratios=list(sr_ratios), mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                      drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                      drop_path_rate=drop_path_rate, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.rgb = MixVisionTransformer(in_channels=in_channels, **common)
        self.extra = ModuleList(MixVisionTransformer(in_channels=c, **common)
                                for c in self.modal_channels)
        dims = [embed_dims * h for h in num_heads]
        self.FRMs = ModuleList(
            ModuleList(FeatureRectifyModule(d, reduction=fusion_reduction) for d in dims)
            for _ in self.modal_channels)
        self.FFMs = ModuleList(
            ModuleList(FeatureFusionModule(d, reduction=fusion_reduction, num_heads=h,
                                           norm_cfg=fusion_norm_cfg)
                       for d, h in zip(dims, num_heads))
            for _ in self.modal_channels)
        self.dropout = nn.Dropout(stage_dropout)
        self.num_stages = len(num_layers)
        self.out_channels: List[int] = [d * len(self.modal_channels) for d in dims]
        self.pretrained = pretrained

    def init_weights(self) -> None:
        super().init_weights()
        if self.pretrained:
            self.load_pretrained(self.pretrained)

    def load_pretrained(self, filename: str) -> None:
        """Load local ImageNet MiT weights into the RGB stream and every modality stream."""
        state = load_mit_checkpoint(filename)
        for name, stream in [('rgb', self.rgb)] + [(f'extra.{m}', s)
                                                    for m, s in enumerate(self.extra)]:
            own = stream.state_dict()
            if set(own) != set(state):
                raise ValueError(f'{filename}: MiT keys do not match the {name} stream '
                                 '(wrong MiT variant?)')
            adapted = {k: inflate_input_channels(v, own[k].shape[1])
                       if k == 'layers.0.0.projection.weight' else v for k, v in state.items()}
            stream.load_state_dict(adapted, strict=True)
        print_log(f'loaded MiT weights from {filename} into {1 + len(self.extra)} streams',
                  logger='current')

    def forward(self, x_rgb: torch.Tensor,
                maps: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """Encode ImageNet-normalised RGB and the list of modality maps."""
        if isinstance(maps, torch.Tensor):
            maps = [maps]
        if len(maps) != len(self.extra):
            raise ValueError(f'built for {len(self.extra)} modalities, got {len(maps)} maps')
        for k, (x, c) in enumerate(zip(maps, self.modal_channels)):
            if x.shape[1] != c or x.shape[-2:] != x_rgb.shape[-2:]:
                raise ValueError(f'modality {k}: expected ({c}, {tuple(x_rgb.shape[-2:])}) '
                                 f'maps, got {tuple(x.shape)}')
        rgb_states = [x_rgb] * len(maps)
        extra_states = list(maps)
        outs = []
        for i in range(self.num_stages):
            fused = []
            for m, stream in enumerate(self.extra):
                r = _run_stage(self.rgb, i, rgb_states[m])
                e = _run_stage(stream, i, extra_states[m])
                r, e = self.FRMs[m][i](r, e)
                fused.append(self.FFMs[m][i](r, e))
                rgb_states[m], extra_states[m] = r, e
            outs.append(self.dropout(torch.cat(fused, dim=1)))
        return outs
