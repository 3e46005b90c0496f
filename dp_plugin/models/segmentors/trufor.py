"""mmseg-native TruFor: dual-stream MiT + localization, confidence and detection heads."""
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from dp_plugin.modalities import NoisePrintPP, build_modality
from dp_plugin.registry import MODELS
from ..fusion import build_modality_adapter
from .confidence_detection_mixin import ConfidenceDetectionMixin
from .forensic_encoder_decoder import ForensicEncoderDecoder, _check_checkpoint

PHASES = ('localization', 'confidence')


@MODELS.register_module()
class TruFor(ConfidenceDetectionMixin, ForensicEncoderDecoder):
    """TruFor (Guillaro et al., CVPR 2023) with a swappable forensic modality.

    ``inputs`` are 0-255 RGB (``SegDataPreProcessor(mean=None, std=None,
    bgr_to_rgb=True)``). The frozen modality sees ``inputs / 255``; its map (optionally
    through a trainable :class:`ModalityAdapter`) feeds the noise stream of a
    :class:`DualMixVisionTransformer`, the ImageNet-normalised RGB feeds the other
    stream. Heads: ``decode_head`` (2-class localization, :class:`AllMLPHead`),
    optional ``conf_head`` (:class:`ConfidenceHead`) and ``detection_head``
    (:class:`ConfPoolDetectionHead`).

    Training phases (TruFor's recipe):

    - ``'localization'`` (phase 2): the loss of ``decode_head`` (its ``loss_decode``,
      CE + Dice in the configs); the modality is frozen.
    - ``'confidence'`` (phase 3): ``loss_conf`` + ``loss_det``; the modality, adapter,
      backbone and ``decode_head`` are frozen (no gradients, eval mode).

    Predictions carry ``seg_logits`` / ``pred_sem_seg`` and, when the heads exist,
    ``pred_conf`` (sigmoid confidence map) and ``pred_score`` (sigmoid integrity score,
    1 = forged), plus ``pred_modality``: a 1-channel summary of the modality map
    (channel 0 for Noiseprint++, the channel L2 norm otherwise; key ``modality_key``).

    Upstream attribute names are kept where users script against them: ``dncnn`` is the
    modality, ``backbone.extra_patch_embed1`` the first patch embedding of the noise
    stream (see ``adapters.trufor``).

    Args:
        backbone (dict): A :class:`DualMixVisionTransformer` config; its
            ``extra_in_channels`` is set from the modality and adapter.
        decode_head (dict): Localization head config (2 classes).
        modality (dict): Modality config, e.g. ``dict(type='NoisePrintPP',
            tile_to_3=True, checkpoint=...)`` or ``dict(type='DiffusionPrint', ...)``.
        adapter (str, optional): ``'simple'``, ``'deep'`` (to 3 channels) or ``'widen'``
            / None (the map enters the noise stream as is).
        conf_head (dict, optional): Confidence head config.
        detection_head (dict, optional): Detection head config (needs ``conf_head``).
        loss_conf (dict): Confidence loss. Defaults to :class:`ConfidenceMSELoss`.
        loss_det (dict): Detection loss. Defaults to :class:`DetectionBCELoss` (x0.5).
        phase (str): ``'localization'`` or ``'confidence'``.
        **kwargs: :class:`ForensicEncoderDecoder` arguments (``data_preprocessor``,
            ``train_cfg``, ...); ImageNet weights go to ``backbone.pretrained``.
    """

    #: Divisor of the uint8 pixels handed to ``dncnn`` (upstream TruFor uses 256).
    dncnn_input_divisor = 255.0

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 modality: dict,
                 adapter: Optional[str] = None,
                 conf_head: Optional[dict] = None,
                 detection_head: Optional[dict] = None,
                 loss_conf: dict = dict(type='ConfidenceMSELoss'),
                 loss_det: dict = dict(type='DetectionBCELoss'),
                 phase: str = 'localization',
                 test_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        if phase not in PHASES:
            raise ValueError(f'phase must be one of {PHASES}, got {phase!r}')
        if detection_head is not None and conf_head is None:
            raise ValueError('detection_head pools the confidence map: set conf_head too')
        if phase == 'confidence' and (conf_head is None or detection_head is None):
            raise ValueError("phase='confidence' trains conf_head and detection_head: "
                             'configure both')
        if kwargs.get('rgb_pretrained'):
            raise ValueError('TruFor loads ImageNet MiT weights into both streams: set '
                             'backbone.pretrained instead of rgb_pretrained')
        _check_checkpoint(modality)
        extractor = build_modality(modality)
        modality_adapter = build_modality_adapter(adapter, extractor.out_channels)
        extra_in = (modality_adapter.out_channels if modality_adapter is not None
                    else extractor.out_channels)
        backbone = dict(backbone)
        if backbone.setdefault('extra_in_channels', extra_in) != extra_in:
            raise ValueError(f'backbone.extra_in_channels={backbone["extra_in_channels"]} but '
                             f'{type(extractor).__name__} with adapter={adapter!r} gives '
                             f'{extra_in} channels')
        with DefaultScope.overwrite_default_scope('dp_plugin'):  # mmseg builds the parts
            super().__init__(backbone=backbone, decode_head=decode_head, modality=extractor,
                             test_cfg=test_cfg or dict(mode='whole'), **kwargs)
        if self.out_channels != 2:
            raise ValueError(f'TruFor localizes with 2 classes, decode_head has '
                             f'{self.out_channels} output channels')
        self.modality_adapter = modality_adapter
        self.adapter = adapter
        self.conf_head = MODELS.build(conf_head) if conf_head is not None else None
        self.detection_head = MODELS.build(detection_head) if detection_head else None
        self.loss_conf = MODELS.build(loss_conf)
        self.loss_det = MODELS.build(loss_det)
        self.phase = phase
        self.frozen_modules: Tuple[str, ...] = ()
        if phase == 'confidence':
            self.frozen_modules = ('modality_adapter', 'backbone', 'decode_head')
            for name in self.frozen_modules:
                module = getattr(self, name)
                if module is not None:
                    module.requires_grad_(False)
                    module.eval()

    # upstream attribute name ``dncnn`` -> the modality ------------------------------
    def __getattr__(self, name: str):
        if name == 'dncnn':
            return self.modalities[0]
        return super().__getattr__(name)

    def __setattr__(self, name: str, value) -> None:
        if name == 'dncnn':
            self.modalities[0] = value
            return
        super().__setattr__(name, value)

    def train(self, mode: bool = True) -> 'TruFor':
        super().train(mode)
        for name in self.frozen_modules:
            module = getattr(self, name)
            if module is not None:
                module.eval()
        return self

    # features ------------------------------------------------------------------------
    def extract_fused_feat(self, rgb: torch.Tensor,
                           modality_maps: torch.Tensor) -> List[torch.Tensor]:
        if self.modality_adapter is not None:
            modality_maps = self.modality_adapter(modality_maps)
        return self.backbone(rgb, modality_maps)

    def _heads(self, inputs: torch.Tensor, with_modality: bool = False
               ) -> Dict[str, torch.Tensor]:
        """All head outputs at input resolution (logits), plus the modality map."""
        modality_map = self.extract_modalities(inputs)
        feats = self.extract_fused_feat(self.normalize_rgb(inputs), modality_map)
        out = self._head_logits(feats, inputs.shape[2:], self.detection_head)
        if with_modality:
            out['modality'] = modality_map
        return out

    # training ------------------------------------------------------------------------
    def loss(self, inputs: torch.Tensor, data_samples: List[SegDataSample]) -> dict:
        if self.phase == 'localization':
            return super().loss(inputs, data_samples)
        return self._confidence_detection_loss(inputs, data_samples, self.detection_head)

    # inference -----------------------------------------------------------------------
    def modality_summary(self, modality_map: torch.Tensor) -> Tuple[str, torch.Tensor]:
        """A 1-channel view of the modality map and its ``.npz`` key.

        Noiseprint++: channel 0 (``'np++'``, as upstream). Others: the L2 norm over
        channels (``'<type>_l2'``, e.g. ``'diffusionprint_l2'``).
        """
        extractor = self.modalities[0]
        extractor = getattr(extractor, 'modality', extractor)  # a patched upstream slot
        if isinstance(extractor, NoisePrintPP) or modality_map.shape[1] == 1:
            return 'np++', modality_map[:, :1]
        key = f'{type(extractor).__name__.lower()}_l2'
        return key, modality_map.norm(dim=1, keepdim=True)

    def predict(self, inputs: torch.Tensor,
                data_samples: Optional[List[SegDataSample]] = None) -> List[SegDataSample]:
        """Maps of the whole image or of ``test_cfg``'s sliding windows (``mode='slide'``:
        logits, confidence and modality summary averaged on overlaps, the score pooled
        from the stitched maps)."""
        if data_samples is None:
            data_samples = [SegDataSample() for _ in range(inputs.shape[0])]
        keys = []

        def window(crop: torch.Tensor) -> Dict[str, torch.Tensor]:
            modality_map = self.extract_modalities(crop)
            feats = self.extract_fused_feat(self.normalize_rgb(crop), modality_map)
            maps = self._head_logits(feats, crop.shape[2:], None)
            key, maps['modality'] = self.modality_summary(modality_map)
            keys.append(key)
            return maps

        out = self._window_logits(inputs, window, self.detection_head)
        key, summary = keys[0], out['modality']
        for i, sample in enumerate(data_samples):
            meta = sample.metainfo
            seg = self._restore(out['seg'][i:i + 1], meta)
            sample.set_data(dict(seg_logits=PixelData(data=seg),
                                 pred_sem_seg=PixelData(data=seg.argmax(0, keepdim=True)),
                                 pred_modality=PixelData(
                                     data=self._restore(summary[i:i + 1], meta))))
            sample.set_metainfo(dict(modality_key=key))
            if 'conf' in out:
                sample.set_data(dict(pred_conf=PixelData(
                    data=self._restore(out['conf'][i:i + 1], meta).sigmoid())))
            if 'det' in out:
                sample.set_field(out['det'][i].sigmoid().reshape(1), 'pred_score')
        return data_samples

    def _forward(self, inputs: torch.Tensor,
                 data_samples: Optional[List[SegDataSample]] = None
                 ) -> Union[torch.Tensor, Dict[str, torch.Tensor]]:
        """Raw outputs: a dict with ``seg`` and, when present, ``conf`` and ``det`` logits."""
        return self._heads(inputs)
