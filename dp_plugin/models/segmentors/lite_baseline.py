"""The paper's Lite Baseline: MiT RGB stream + residual CNN on the modality, concat fusion."""
from typing import List, Optional

import torch
from mmcv.cnn import ConvModule
from mmseg.models.utils import resize
from torch import Tensor, nn

from dp_plugin.registry import MODELS
from .forensic_encoder_decoder import ForensicEncoderDecoder


@MODELS.register_module()
class LiteBaseline(ForensicEncoderDecoder):
    """Two-stream localizer with per-scale concatenation fusion (paper §5.1, §8).

    ``backbone`` (the RGB stream, e.g. mmseg ``MixVisionTransformer``) sees the
    ImageNet-normalised image; ``forensic_encoder`` (default
    :class:`ResidualForensicEncoder`) sees the frozen modality's map. At each scale the
    two are concatenated and reduced by 1x1 conv + BN + ReLU to the RGB width, then
    ``decode_head`` (``SegformerHead``) predicts the map.

    Args:
        forensic_encoder (dict): Encoder config; ``in_channels`` is filled in from the
            modality. Its widths must have as many scales as the RGB stream.
        fusion_norm_cfg (dict): Normalisation of the fusion convs. Defaults to BN.
        Other arguments: see :class:`ForensicEncoderDecoder`. The RGB widths are taken
        from ``decode_head.in_channels``.
    """

    def __init__(self, backbone: dict, decode_head: dict,
                 forensic_encoder: Optional[dict] = None,
                 fusion_norm_cfg: dict = dict(type='BN', requires_grad=True),
                 **kwargs) -> None:
        super().__init__(backbone=backbone, decode_head=decode_head, **kwargs)
        encoder_cfg = dict(type='ResidualForensicEncoder')
        encoder_cfg.update(forensic_encoder or {})
        encoder_cfg['in_channels'] = self.modality_channels
        self.forensic_encoder = MODELS.build(encoder_cfg)
        rgb_channels = list(self.decode_head.in_channels)
        forensic_channels = list(self.forensic_encoder.channels)
        if len(rgb_channels) != len(forensic_channels):
            raise ValueError(f'RGB stream has {len(rgb_channels)} scales but the forensic '
                             f'encoder has {len(forensic_channels)}')
        self.fusion = nn.ModuleList(
            ConvModule(r + f, r, 1, norm_cfg=fusion_norm_cfg)
            for r, f in zip(rgb_channels, forensic_channels))

    def extract_fused_feat(self, rgb: Tensor, modality_maps: Tensor) -> List[Tensor]:
        rgb_feats = self.backbone(rgb)
        forensic_feats = self.forensic_encoder(modality_maps)
        fused = []
        for conv, r, f in zip(self.fusion, rgb_feats, forensic_feats):
            if f.shape[-2:] != r.shape[-2:]:
                f = resize(f, size=r.shape[-2:], mode='bilinear', align_corners=False)
            fused.append(conv(torch.cat([r, f], dim=1)))
        if self.with_neck:
            fused = self.neck(fused)
        return fused
