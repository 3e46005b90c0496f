"""MMFusion's late-fusion encoder: one CMX noise stream per modality, outputs concatenated."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import ModuleList
from mmseg.models.backbones import MixVisionTransformer

from dp_plugin.registry import MODELS
from .multi_stream_mit import MultiStreamMiT
from .norm_eps import apply_norm_eps


@MODELS.register_module()
class LateFusionMultiMiT(MultiStreamMiT):
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
        in_channels (int): RGB stream input channels. Defaults to 3.
        stage_dropout (float): Dropout on each concatenated stage output. Defaults to 0.33.
        norm_eps (dict, optional): LayerNorm eps per part, overriding ``norm_cfg`` (see
            :func:`~dp_plugin.models.backbones.norm_eps.apply_norm_eps`).
        **kwargs: The MiT (MiT-B2 defaults), fusion and ``pretrained`` arguments of
            :class:`MultiStreamMiT`; ``pretrained`` ImageNet weights go to the RGB stream
            and every modality stream (first kernels inflated to the modality width).
    """

    def __init__(self,
                 modal_channels: Sequence[int],
                 in_channels: int = 3,
                 stage_dropout: float = 0.33,
                 norm_eps: Optional[dict] = None,
                 **kwargs) -> None:
        modal_channels = [int(c) for c in modal_channels]
        if not modal_channels:
            raise ValueError('LateFusionMultiMiT needs at least one modality')
        super().__init__(in_channels=in_channels, **kwargs)
        self.modal_channels = modal_channels
        self.extra = ModuleList(self.new_stream(c) for c in modal_channels)
        self.FRMs = ModuleList(self.new_rectifiers() for _ in modal_channels)
        self.FFMs = ModuleList(self.new_fusions() for _ in modal_channels)
        apply_norm_eps(self.rgb, self.extra, [f for per_modality in self.FFMs
                                              for f in per_modality], norm_eps)
        self.dropout = nn.Dropout(stage_dropout)
        self.out_channels: List[int] = [d * len(modal_channels) for d in self.stage_dims]

    def streams(self) -> List[Tuple[str, MixVisionTransformer]]:
        return [('rgb', self.rgb)] + [(f'extra.{m}', s) for m, s in enumerate(self.extra)]

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
                r = self.run_stage(self.rgb, i, rgb_states[m])
                e = self.run_stage(stream, i, extra_states[m])
                r, e = self.FRMs[m][i](r, e)
                fused.append(self.FFMs[m][i](r, e))
                rgb_states[m], extra_states[m] = r, e
            outs.append(self.dropout(torch.cat(fused, dim=1)))
        return outs
