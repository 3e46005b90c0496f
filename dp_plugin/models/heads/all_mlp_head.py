"""TruFor / CMX flavour of SegFormer's All-MLP decode head."""
from typing import List

import torch
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads import SegformerHead
from mmseg.models.utils import resize

from dp_plugin.registry import MODELS


@MODELS.register_module()
class AllMLPHead(SegformerHead):
    """All-MLP decoder laid out as TruFor's ``DecoderHead``.

    Differences from mmseg's :class:`SegformerHead`, kept so TruFor checkpoints map onto
    it one to one: the per-stage projections are plain linear maps (1x1 convs with bias,
    no norm or activation), the projected maps are concatenated deepest stage first
    (``[c4, c3, c2, c1]``), and the fusion conv has a bias (TruFor; MMFusion's has none)
    followed by BN and ReLU.
    Dropout (``dropout_ratio``, default 0.1) and the classifier (``conv_seg``) come from
    :class:`BaseDecodeHead`.

    Args:
        fusion_norm_cfg (dict): Norm after the fusion conv. Defaults to BN with
            ``eps=1e-3`` (TruFor's head setting).
        fusion_conv_bias (bool): Give the fusion conv a bias (TruFor). MMFusion's head has
            none (``False``): a bias before BN only shifts the running mean.
        **kwargs: :class:`SegformerHead` / :class:`BaseDecodeHead` arguments
            (``in_channels``, ``channels``, ``num_classes``, ``in_index``, ...).
    """

    def __init__(self, fusion_norm_cfg: dict = dict(type='BN', eps=1e-3),
                 fusion_conv_bias: bool = True, **kwargs) -> None:
        kwargs.update(norm_cfg=None, act_cfg=None)
        super().__init__(**kwargs)
        self.fusion_conv = ConvModule(
            in_channels=self.channels * len(self.in_channels), out_channels=self.channels,
            kernel_size=1, bias=fusion_conv_bias, norm_cfg=fusion_norm_cfg,
            act_cfg=dict(type='ReLU'))

    def fuse(self, inputs: List[torch.Tensor]) -> torch.Tensor:
        """Project, upsample to 1/4 and fuse the stage maps (before dropout/classifier)."""
        inputs = self._transform_inputs(inputs)
        size = inputs[0].shape[2:]
        outs = [resize(conv(x), size=size, mode=self.interpolate_mode,
                       align_corners=self.align_corners)
                for conv, x in zip(self.convs, inputs)]
        return self.fusion_conv(torch.cat(outs[::-1], dim=1))

    def forward(self, inputs: List[torch.Tensor]) -> torch.Tensor:
        return self.cls_seg(self.fuse(inputs))
