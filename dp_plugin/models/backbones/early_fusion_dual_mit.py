"""MMFusion's early-fusion encoder: modal mixer + dual-stream MiT with CMX fusion."""
from typing import List, Optional, Sequence

import torch
from mmseg.models.utils import nlc_to_nchw

from dp_plugin.registry import MODELS
from ..fusion import ModalMixer
from .dual_mit import DualMixVisionTransformer


@MODELS.register_module()
class EarlyFusionDualMiT(DualMixVisionTransformer):
    """MMFusion's early-fusion (``MixCMNeXtMHSA``) encoder on mmseg MiT streams.

    ``modal_mix`` (:class:`ModalMixer`) turns the ``M`` modality maps, each with its own
    width, into one 3-channel image that feeds the extra stream of a
    :class:`DualMixVisionTransformer` (RGB + extra, CMX FRM/FFM after every stage).
    A 64-channel DiffusionPrint enters through its own first early-conv block
    (``modal_mix.blocks[k]``); nothing downstream depends on modality widths.

    ``patch_embed_residual`` reproduces a quirk of the released model (inherited from
    DELIVER): with more than one modality, the input of extra-stream stage ``i + 1`` is
    the rectified stage-``i`` output plus the stage-``i`` patch embedding read with a
    channel-last reshape of channel-first memory (a spatial scramble). Keep it (the
    default ``None`` = "as upstream": on when ``M > 1``) to run official checkpoints;
    set False for the plain CMX stream.

    Args:
        modal_channels (sequence of int): Output channels of each modality, in the
            model's modality order (filled in by :class:`MMFusion`).
        mixer_dropout (float): Dropout of the mixer. Defaults to 0.33.
        mixer_norm_cfg (dict): Norm of the early-conv blocks.
        patch_embed_residual (bool, optional): See above.
        **kwargs: :class:`DualMixVisionTransformer` arguments (MiT-B2 defaults);
            ``extra_in_channels`` is the mixer's output (3).
    """

    def __init__(self, modal_channels: Sequence[int], mixer_dropout: float = 0.33,
                 mixer_norm_cfg: dict = dict(type='BN', eps=1e-3),
                 patch_embed_residual: Optional[bool] = None, **kwargs) -> None:
        extra_in = kwargs.pop('extra_in_channels', 3)
        super().__init__(extra_in_channels=extra_in, **kwargs)
        self.modal_mix = ModalMixer(modal_channels, out_channels=extra_in,
                                    dropout=mixer_dropout, norm_cfg=mixer_norm_cfg)
        self.modal_channels = list(self.modal_mix.in_channels)
        if patch_embed_residual is None:
            patch_embed_residual = len(self.modal_channels) > 1
        self.patch_embed_residual = bool(patch_embed_residual)

    def forward(self, x_rgb: torch.Tensor,
                maps: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """Encode ImageNet-normalised RGB and the list of modality maps.

        Returns the four fused maps at 1/4, 1/8, 1/16 and 1/32 resolution.
        """
        if isinstance(maps, torch.Tensor):
            maps = [maps]
        for k, (x, c) in enumerate(zip(maps, self.modal_channels)):
            if x.shape[1] != c or x.shape[-2:] != x_rgb.shape[-2:]:
                raise ValueError(f'modality {k}: expected ({c}, {tuple(x_rgb.shape[-2:])}) '
                                 f'maps, got {tuple(x.shape)}')
        x_extra = self.modal_mix(maps)
        if not self.patch_embed_residual:
            return super().forward(x_rgb, x_extra)
        outs = []
        for i in range(self.num_stages):
            x_rgb = self.run_stage(self.rgb, i, x_rgb)
            patch_embed, blocks, norm = self.extra.layers[i]
            tokens, hw = patch_embed(x_extra)
            x = tokens
            for block in blocks:
                x = block(x, hw)
            x_extra = nlc_to_nchw(norm(x), hw)
            x_rgb, x_extra = self.FRMs[i](x_rgb, x_extra)
            outs.append(self.FFMs[i](x_rgb, x_extra))
            if i + 1 < self.num_stages:
                embedded = nlc_to_nchw(tokens, hw).contiguous()
                b, c, h, w = embedded.shape
                x_extra = x_extra + embedded.reshape(b, h, w, c).permute(0, 3, 1, 2)
        return outs
