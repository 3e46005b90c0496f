"""Base segmentor of two-stream forgery localizers (RGB + frozen forensic modality)."""
import os.path as osp
from typing import List, Optional, Sequence, Union

import torch
from mmengine.config import ConfigDict
from mmseg.models.segmentors import EncoderDecoder
from torch import Tensor, nn

from dp_plugin.modalities import BaseModality, build_modality
from dp_plugin.registry import MODELS
from ..converters.rgb_weights import load_rgb_pretrained

#: ImageNet statistics in the 0-255 scale (RGB order).
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)

ModalityCfg = Union[dict, ConfigDict, BaseModality]


def _check_checkpoint(cfg: ModalityCfg) -> None:
    """Fail early, and clearly, when a configured modality checkpoint is missing."""
    if not isinstance(cfg, dict):
        return
    path = cfg.get('checkpoint')
    if path and not osp.isfile(osp.expanduser(path)):  # the modality expands ~ too
        hint = ('export one with the pretraining step (see docs/localization.md) or set '
                'modality.checkpoint=None for a randomly initialised extractor (for tests only)')
        if cfg.get('type') == 'NoisePrintPP':
            hint = 'get noiseprint++.th from TruFor and put it there, or override the path'
        raise FileNotFoundError(
            f'{cfg.get("type", "modality")} checkpoint not found: {path!r} '
            f'(relative paths are relative to the current directory {osp.abspath(".")}); {hint}')


@MODELS.register_module()
class ForensicEncoderDecoder(EncoderDecoder):
    """``EncoderDecoder`` whose input is split into a frozen modality and an RGB stream.

    The data preprocessor must hand over 0-255 RGB (``SegDataPreProcessor(mean=None,
    std=None, bgr_to_rgb=True)``). The modality sees ``inputs / 255`` in float32 (also
    under AMP); the RGB stream sees ImageNet-normalised inputs. Subclasses fuse the two
    in :meth:`extract_fused_feat`; by default ``backbone(rgb, modality_maps)`` is called,
    so a two-input backbone works without subclassing.

    Args:
        modality (dict, optional): One modality config (``dict(type='DiffusionPrint', ...)``).
        modalities (list[dict], optional): Several modalities, outputs concatenated
            along channels (give ``modality`` or ``modalities``, not both).
        freeze_modality (bool): Freeze the modalities whatever their config says.
        rgb_mean, rgb_std (sequence[float]): RGB-stream normalisation (0-255 scale).
        rgb_pretrained (str, optional): Local file of ImageNet weights for ``backbone``
            (mmseg or official SegFormer MiT format), loaded by ``init_weights``.
        Other arguments: see mmseg's ``EncoderDecoder``.
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 modality: Optional[ModalityCfg] = None,
                 modalities: Optional[Sequence[ModalityCfg]] = None,
                 freeze_modality: bool = True,
                 rgb_mean: Sequence[float] = IMAGENET_MEAN,
                 rgb_std: Sequence[float] = IMAGENET_STD,
                 rgb_pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 **kwargs) -> None:
        if data_preprocessor is not None and (data_preprocessor.get('mean') is not None
                                              or data_preprocessor.get('std') is not None):
            raise ValueError(
                f'{type(self).__name__} normalises the RGB stream itself and the modality '
                'needs raw pixels: use SegDataPreProcessor(mean=None, std=None, bgr_to_rgb=True)')
        if (modality is None) == (modalities is None):
            raise ValueError(f'{type(self).__name__}: give exactly one of modality= or modalities=')
        cfgs = [modality] if modality is not None else list(modalities)
        for cfg in cfgs:
            _check_checkpoint(cfg)
        if rgb_pretrained is not None and '://' in rgb_pretrained:
            raise ValueError(f'rgb_pretrained must be a local file, got the URL {rgb_pretrained!r}')
        if rgb_pretrained is not None and not osp.isfile(rgb_pretrained):
            raise FileNotFoundError(f'rgb_pretrained file not found: {rgb_pretrained!r}')
        super().__init__(backbone=backbone, decode_head=decode_head,
                         data_preprocessor=data_preprocessor, **kwargs)
        self.rgb_pretrained = rgb_pretrained
        self.modalities = nn.ModuleList(build_modality(cfg) for cfg in cfgs)
        if freeze_modality:
            for m in self.modalities:
                m.freeze()
        self.register_buffer('rgb_mean', torch.tensor(rgb_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('rgb_std', torch.tensor(rgb_std).view(1, 3, 1, 1), persistent=False)

    def init_weights(self) -> None:
        super().init_weights()
        if self.rgb_pretrained is not None:
            load_rgb_pretrained(self.backbone, self.rgb_pretrained)

    @property
    def modality(self) -> BaseModality:
        """The (first) modality."""
        return self.modalities[0]

    @property
    def modality_channels(self) -> int:
        """Channels of the concatenated modality maps."""
        return sum(m.out_channels for m in self.modalities)

    def normalize_rgb(self, inputs: Tensor) -> Tensor:
        """ImageNet-normalise 0-255 RGB."""
        return (inputs - self.rgb_mean) / self.rgb_std

    def extract_modalities(self, inputs: Tensor) -> Tensor:
        """Modality maps of 0-255 RGB ``inputs``, channels concatenated, float32."""
        x = inputs.float() / 255.0
        with torch.autocast(device_type=inputs.device.type, enabled=False):
            maps = [m(x) for m in self.modalities]
        return maps[0] if len(maps) == 1 else torch.cat(maps, dim=1)

    def extract_fused_feat(self, rgb: Tensor, modality_maps: Tensor) -> List[Tensor]:
        """Multi-scale features from the normalised RGB and the modality maps."""
        x = self.backbone(rgb, modality_maps)
        if self.with_neck:
            x = self.neck(x)
        return x

    def extract_feat(self, inputs: Tensor) -> List[Tensor]:
        if inputs.dim() != 4 or inputs.size(1) != 3:
            raise ValueError(f'{type(self).__name__} expects RGB inputs (B, 3, H, W), '
                             f'got {tuple(inputs.shape)}')
        return self.extract_fused_feat(self.normalize_rgb(inputs), self.extract_modalities(inputs))
