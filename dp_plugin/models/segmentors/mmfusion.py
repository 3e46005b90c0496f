"""mmseg-native MMFusion: several forensic modalities fused with RGB (Triaridis & Mezaris)."""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from torch import Tensor

from dp_plugin.modalities import BaseModality, build_modality
from dp_plugin.registry import MODELS
from ..utils.modalities_extractor import ModalitiesExtractor
from .confidence_detection_mixin import ConfidenceDetectionMixin
from .forensic_encoder_decoder import ForensicEncoderDecoder, _check_checkpoint

PHASES = ('localization', 'detection')
DET_LABEL_SOURCES = ('label', 'mask')


@MODELS.register_module()
class MMFusion(ConfidenceDetectionMixin, ForensicEncoderDecoder):
    """MMFusion (MMM 2024) with any list of modalities: DiffusionPrint, Noiseprint++, SRM, Bayar.

    ``inputs`` are 0-255 RGB (``SegDataPreProcessor(mean=None, std=None,
    bgr_to_rgb=True)``). ``modal_extractor`` (:class:`ModalitiesExtractor`) runs every
    modality on ``inputs / 255`` in float32 (also under AMP), each with its own width
    (64 DiffusionPrint, 3 SRM / Bayar / tiled Noiseprint++, 1 untiled Noiseprint++). The
    list of maps and the ImageNet-normalised RGB go to ``backbone``:

    - :class:`EarlyFusionDualMiT` (early fusion, the released reference model):
      ``backbone.modal_mix.blocks[k]`` maps modality ``k`` to 3 channels, the mixer makes
      one 3-channel image for the second MiT stream, CMX fusion after every stage;
    - :class:`LateFusionMultiMiT` (late fusion): one MiT noise stream per modality,
      fused maps concatenated (decode-head widths x M).

    ``backbone.modal_channels`` is filled in from the modalities. Heads: ``decode_head``
    (2-class localization, :class:`AllMLPHead`), ``conf_head`` (:class:`ConfidenceHead`)
    and ``detection`` (:class:`ConfPoolDetectionHead`). Upstream attribute names:
    ``modal_extractor.{noiseprint,bayar,srm,diffusionprint}``, ``backbone.modal_mix``,
    ``decode_head``, ``conf_head``, ``detection``.

    Phases (MMFusion's recipe):

    - ``'localization'``: the ``decode_head`` loss (0.3 weighted CE + 0.7 Dice);
      frozen modalities stay frozen, Bayar trains with everything else.
    - ``'detection'``: ``loss_conf`` + ``loss_det`` train ``conf_head`` and ``detection``;
      ``modal_extractor``, ``backbone`` and ``decode_head`` are frozen (no gradients,
      eval mode). Predictions then also carry ``pred_conf`` (sigmoid confidence map) and
      ``pred_score`` (sigmoid integrity score, 1 = forged).

    Args:
        backbone (dict): :class:`EarlyFusionDualMiT` or :class:`LateFusionMultiMiT` config.
        decode_head (dict): Localization head config (2 classes).
        modalities (list[dict]): Modality configs, e.g. ``[dict(type='DiffusionPrint',
            checkpoint=...), dict(type='NoisePrintPP', tile_to_3=True, checkpoint=...),
            dict(type='SRM'), dict(type='Bayar')]``, any order.
        conf_head (dict, optional): Confidence head config.
        detection_head (dict, optional): Detection head config (needs ``conf_head``);
            stored as ``self.detection``.
        loss_conf (dict): Confidence loss. MMFusion's phase 2 has no boundary band
            (``erode=dilate=1``).
        loss_det (dict): Detection loss; MMFusion: unweighted BCE, x0.5.
        phase (str): ``'localization'`` or ``'detection'``.
        det_label_source (str): Image label of the detection loss: ``'label'`` (the
            dataset's image label, as upstream) or ``'mask'`` (forged pixels in the crop).
        Other arguments: see :class:`ForensicEncoderDecoder` (``rgb_pretrained`` is not
        used: ImageNet MiT weights go to ``backbone.pretrained``, both streams).
    """

    def __init__(self,
                 backbone: dict,
                 decode_head: dict,
                 modalities: Sequence[Union[dict, BaseModality]],
                 conf_head: Optional[dict] = None,
                 detection_head: Optional[dict] = None,
                 loss_conf: dict = dict(type='ConfidenceMSELoss', erode=1, dilate=1),
                 loss_det: dict = dict(type='DetectionBCELoss', fake_weight=1.0,
                                       real_weight=1.0, loss_weight=0.5),
                 phase: str = 'localization',
                 det_label_source: str = 'label',
                 test_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        if phase not in PHASES:
            raise ValueError(f'phase must be one of {PHASES}, got {phase!r}')
        if det_label_source not in DET_LABEL_SOURCES:
            raise ValueError(f'det_label_source must be one of {DET_LABEL_SOURCES}, '
                             f'got {det_label_source!r}')
        if detection_head is not None and conf_head is None:
            raise ValueError('detection_head pools the confidence map: set conf_head too')
        if phase == 'detection' and (conf_head is None or detection_head is None):
            raise ValueError("phase='detection' trains conf_head and detection_head: "
                             'configure both')
        if kwargs.get('rgb_pretrained') is not None:
            raise ValueError('MMFusion loads ImageNet MiT weights into both streams: set '
                             'backbone.pretrained instead of rgb_pretrained')
        if isinstance(modalities, dict) or not modalities:
            raise ValueError('MMFusion needs a non-empty list of modality configs, got '
                             f'{modalities!r}')
        for cfg in modalities:
            _check_checkpoint(cfg)
        built = [build_modality(cfg) for cfg in modalities]
        channels = [m.out_channels for m in built]
        backbone = dict(backbone)
        if list(backbone.setdefault('modal_channels', channels)) != channels:
            raise ValueError(f'backbone.modal_channels={list(backbone["modal_channels"])} '
                             f'but the modalities give {channels}')
        with DefaultScope.overwrite_default_scope('dp_plugin'):  # mmseg builds the parts
            super().__init__(backbone=backbone, decode_head=decode_head, modalities=built,
                             freeze_modality=False, test_cfg=test_cfg or dict(mode='whole'),
                             **kwargs)
        if self.out_channels != 2:
            raise ValueError(f'MMFusion localizes with 2 classes, decode_head has '
                             f'{self.out_channels} output channels')
        self.modal_extractor = ModalitiesExtractor(list(self._modules.pop('modalities')))
        self.conf_head = MODELS.build(conf_head) if conf_head is not None else None
        self.detection = MODELS.build(detection_head) if detection_head is not None else None
        self.loss_conf = MODELS.build(loss_conf)
        self.loss_det = MODELS.build(loss_det)
        self.phase = phase
        self.det_label_source = det_label_source
        self.frozen_modules: Tuple[str, ...] = ()
        if phase == 'detection':
            self.frozen_modules = ('modal_extractor', 'backbone', 'decode_head')
            for name in self.frozen_modules:
                getattr(self, name).requires_grad_(False)
                getattr(self, name).eval()

    @property
    def modalities(self) -> List[BaseModality]:
        """The modalities in model order (the values of ``modal_extractor``)."""
        extractor = self._modules.get('modal_extractor')
        if extractor is None:  # during ForensicEncoderDecoder.__init__
            return self._modules['modalities']
        return list(extractor.values())

    def train(self, mode: bool = True) -> 'MMFusion':
        super().train(mode)
        for name in self.frozen_modules:
            getattr(self, name).eval()
        return self

    # features ------------------------------------------------------------------------
    def extract_modalities(self, inputs: Tensor) -> List[Tensor]:
        """The list of modality maps of 0-255 RGB ``inputs`` (float32, model order)."""
        x = inputs.float() / 255.0
        with torch.autocast(device_type=inputs.device.type, enabled=False):
            return self.modal_extractor(x)

    def _heads(self, inputs: Tensor) -> Dict[str, Tensor]:
        """Localization, confidence and detection logits at input resolution."""
        return self._head_logits(self.extract_feat(inputs), inputs.shape[2:], self.detection)

    # training ------------------------------------------------------------------------
    def _image_labels(self, data_samples: List[SegDataSample], masks: Tensor) -> Tensor:
        if self.det_label_source == 'label' and all('label' in s.metainfo
                                                    for s in data_samples):
            return masks.new_tensor([float(s.metainfo['label'] > 0) for s in data_samples],
                                    dtype=torch.float32)
        return self.loss_det.labels_from_masks(masks)

    def loss(self, inputs: Tensor, data_samples: List[SegDataSample]) -> dict:
        if self.phase == 'localization':
            return super().loss(inputs, data_samples)
        return self._confidence_detection_loss(inputs, data_samples, self.detection)

    # inference -----------------------------------------------------------------------
    def predict(self, inputs: Tensor,
                data_samples: Optional[List[SegDataSample]] = None) -> List[SegDataSample]:
        """``seg_logits`` / ``pred_sem_seg``; in the detection phase also ``pred_conf`` and
        ``pred_score``. Whole image or ``test_cfg``'s sliding windows (``mode='slide'``:
        logits and confidence averaged on overlaps, the score pooled from the stitched
        maps)."""
        if data_samples is None:
            data_samples = [SegDataSample() for _ in range(inputs.shape[0])]
        out = self._window_logits(
            inputs, lambda crop: self._head_logits(self.extract_feat(crop), crop.shape[2:], None),
            self.detection)
        for i, sample in enumerate(data_samples):
            meta = sample.metainfo
            seg = self._restore(out['seg'][i:i + 1], meta)
            sample.set_data(dict(seg_logits=PixelData(data=seg),
                                 pred_sem_seg=PixelData(data=seg.argmax(0, keepdim=True))))
            if self.phase == 'detection':
                sample.set_data(dict(pred_conf=PixelData(
                    data=self._restore(out['conf'][i:i + 1], meta).sigmoid())))
                sample.set_field(out['det'][i].sigmoid().reshape(1), 'pred_score')
        return data_samples

    def _forward(self, inputs: Tensor,
                 data_samples: Optional[List[SegDataSample]] = None) -> Dict[str, Tensor]:
        """Raw outputs: ``seg`` and, when the heads exist, ``conf`` and ``det`` logits."""
        return self._heads(inputs)
