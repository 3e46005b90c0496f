"""Load any trained dp_plugin segmentor and turn an RGB image into forgery maps.

The *localization output protocol* (also in ``docs/localize.md``) that every model of
this project follows so that :class:`Localizer` and ``dp-localize`` work with it:

* the model is an mmseg segmentor (``BaseSegmentor``); ``test_step`` returns one
  ``SegDataSample`` per image whose ``seg_logits.data`` is ``(C, H, W)`` at the
  original image size. With ``C >= 2`` channel 1 is the *forged* class and the map
  is ``softmax(seg_logits)[1]``; with ``C == 1`` mmseg has already applied the
  sigmoid and the map is ``seg_logits[0]``;
* a model with a confidence head adds the field ``pred_conf`` (``PixelData``,
  ``data`` of shape ``(1, H, W)``, probabilities in [0, 1], original size);
* a model with a detection head adds the field ``pred_score`` (a float tensor with
  one element, the probability that the image is forged); the metainfo key ``score``
  is accepted as well;
* optionally ``pred_modality`` (``PixelData`` ``(1, H, W)``, a one-channel view of the
  forensic modality) with metainfo ``modality_key`` (``'np++'`` as in TruFor's ``.npz``);
* large images: the localizer sets ``model.test_cfg`` to mmseg's sliding window
  (``mode='slide'``); a model with extra outputs aggregates them over the windows
  itself.
"""
import os.path as osp
from dataclasses import dataclass
from typing import Optional, Tuple, Union

import numpy as np
import torch
from mmengine.config import Config, ConfigDict

from dp_plugin.utils.checkpoint_reader import CheckpointFormatError, read_weights

#: Defaults of the sliding window used for large images.
DEFAULT_TILE = 1024
DEFAULT_TILE_OVERLAP = 128
#: What :func:`load_state_dict_safely` accepts (for its error messages).
MODEL_FORMAT = ("a state dict of tensors, an MMEngine runner checkpoint {'state_dict': ...} "
                'or a .safetensors file')


@dataclass
class LocalizationOutput:
    """Maps of one image, all at the image's size."""

    map: np.ndarray  #: float32 (H, W), probability of the forged class
    conf: Optional[np.ndarray] = None  #: float32 (H, W) confidence, if the model has one
    score: Optional[float] = None  #: image-level forgery probability, if the model has one
    #: float32 (H, W) summary of the modality map (``pred_modality``), e.g. ``'np++'``
    modality: Optional[Tuple[str, np.ndarray]] = None


def load_state_dict_safely(checkpoint: str) -> dict:
    """Read the model weights of ``checkpoint`` without unpickling arbitrary objects.

    Accepts ``.safetensors`` files and ``torch.save`` files (plain state dicts or
    mmengine runner checkpoints with a ``state_dict`` entry), read by
    :func:`dp_plugin.utils.checkpoint_reader.read_weights`. A ``module.`` prefix (DDP)
    is removed. Raises :class:`CheckpointFormatError` (a ``ValueError``) otherwise.
    """
    state, _ = read_weights(checkpoint, MODEL_FORMAT, 'model weights')
    if isinstance(state, dict) and isinstance(state.get('state_dict'), dict):
        state = state['state_dict']
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise CheckpointFormatError(checkpoint, 'no state dict of tensors in it',
                                    MODEL_FORMAT, 'model weights')
    return {k[len('module.'):] if k.startswith('module.') else k: v
            for k, v in state.items()}


def _drop_missing_modality_files(model_cfg: ConfigDict) -> None:
    """Let a trained model run where its modality's weight file does not exist.

    The full checkpoint carries the modality weights (loading is strict, so a checkpoint
    without them is refused), hence a ``checkpoint`` of ``model.modality`` /
    ``model.modalities[i]`` that points to a missing file is dropped.
    """
    for key in ('modality', 'modalities'):
        entries = model_cfg.get(key)
        for entry in [entries] if isinstance(entries, dict) else entries or []:
            path = entry.get('checkpoint') if isinstance(entry, dict) else None
            if path and not osp.isfile(osp.expanduser(path)):
                entry['checkpoint'] = None


def _build_pipeline(cfg: Config):
    """The config's test pipeline with the file loader replaced by an array loader.

    Returns ``(pipeline, channel_order)`` or ``(None, 'bgr')`` when the config has no
    test pipeline. Annotation loaders are dropped.
    """
    from mmcv.transforms import Compose
    pipeline_cfg = cfg.get('test_pipeline')
    if pipeline_cfg is None:
        pipeline_cfg = cfg.get('test_dataloader', {}).get('dataset', {}).get('pipeline')
    if not pipeline_cfg:
        return None, 'bgr'
    steps, channel_order = [], 'bgr'
    for step in pipeline_cfg:
        kind = str(step.get('type', ''))
        if 'Annotation' in kind:
            continue
        if kind.startswith('Load') and 'Image' in kind:
            channel_order = step.get('channel_order', 'bgr')
            step = dict(type='LoadImageFromNDArray')
        steps.append(step)
    return Compose(steps), channel_order


class Localizer:
    """A trained segmentor ready to produce forgery maps for RGB images.

    Args:
        config: Config file (or :class:`Config`) of the trained model.
        checkpoint: Weights (see :func:`load_state_dict_safely`); ``None`` keeps the
            freshly built (random) weights, for tests and benchmarks only.
        device: Torch device string.
        tile: Sliding-window size for images larger than it; smaller images run
            whole. ``None`` or 0: keep the config's ``model.test_cfg``.
        tile_overlap: Overlap of neighbouring windows, in pixels.
        cfg_options: Overrides merged into the config (mmengine ``DictAction`` style).
        precision: ``'fp32'`` or ``'bf16'``: the DnCNN modalities run in bf16 and the rest
            of the model under bf16 autocast (GPUs with bf16, CPUs with AVX512-BF16 / AMX;
            elsewhere a warning and fp32). Maps are returned in fp32 either way.
    """

    def __init__(self, config: Union[str, Config], checkpoint: Optional[str] = None,
                 device: str = 'cpu', tile: Optional[int] = DEFAULT_TILE,
                 tile_overlap: int = DEFAULT_TILE_OVERLAP,
                 cfg_options: Optional[dict] = None, precision: str = 'fp32') -> None:
        from mmengine.registry import init_default_scope

        from dp_plugin.modalities.dncnn_modality import set_inference_precision
        from dp_plugin.registry import MODELS
        cfg = Config.fromfile(config) if isinstance(config, str) else config.copy()
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        init_default_scope(cfg.get('default_scope', 'dp_plugin'))
        model_cfg = cfg.model
        model_cfg.pop('pretrained', None)
        model_cfg.train_cfg = None
        if checkpoint is not None:
            _drop_missing_modality_files(model_cfg)
        self.model = MODELS.build(model_cfg)
        if checkpoint is not None:
            state = load_state_dict_safely(checkpoint)
            missing, unexpected = self.model.load_state_dict(state, strict=False)
            if missing or unexpected:
                raise ValueError(
                    f'checkpoint {checkpoint} does not match the config {cfg.filename}: '
                    f'{len(missing)} missing keys {list(missing)[:3]}, '
                    f'{len(unexpected)} unexpected keys {list(unexpected)[:3]}')
        self.model.cfg = cfg
        self.model.to(device).eval()
        self.device = device
        self.amp_dtype = set_inference_precision(self.model, precision)
        self.tile, self.tile_overlap = tile, tile_overlap
        if tile and not 0 <= tile_overlap < tile:
            raise ValueError(f'tile_overlap must be in [0, tile), got {tile_overlap} '
                             f'for tile {tile}')
        self.pipeline, self.channel_order = _build_pipeline(cfg)

    def _configure_window(self, height: int, width: int) -> None:
        if not self.tile or not hasattr(self.model, 'test_cfg'):
            return
        if max(height, width) > self.tile:
            stride = self.tile - self.tile_overlap
            self.model.test_cfg = ConfigDict(mode='slide', crop_size=(self.tile, self.tile),
                                             stride=(stride, stride))
        else:
            self.model.test_cfg = ConfigDict(mode='whole')

    def _pack(self, rgb: np.ndarray) -> dict:
        img = rgb[..., ::-1] if self.channel_order == 'bgr' else rgb
        img = np.ascontiguousarray(img)
        if self.pipeline is not None:
            packed = self.pipeline(dict(img=img))
            return dict(inputs=[packed['inputs']], data_samples=[packed['data_samples']])
        from mmseg.structures import SegDataSample
        height, width = img.shape[:2]
        sample = SegDataSample(metainfo=dict(ori_shape=(height, width),
                                             img_shape=(height, width),
                                             pad_shape=(height, width)))
        inputs = torch.from_numpy(img).permute(2, 0, 1).contiguous()
        return dict(inputs=[inputs], data_samples=[sample])

    @torch.no_grad()
    def __call__(self, rgb: np.ndarray) -> LocalizationOutput:
        """Maps of one ``(H, W, 3)`` uint8 RGB image."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f'expected an (H, W, 3) uint8 RGB array, got {rgb.shape} '
                             f'{rgb.dtype}')
        self._configure_window(*rgb.shape[:2])
        with torch.autocast(torch.device(self.device).type, dtype=self.amp_dtype,
                            enabled=self.amp_dtype != torch.float32):
            sample = self.model.test_step(self._pack(rgb))[0]
        return output_from_sample(sample)


def output_from_sample(sample) -> LocalizationOutput:
    """Apply the localization output protocol to one predicted ``SegDataSample``."""
    logits = sample.seg_logits.data.float()
    if logits.shape[0] >= 2:
        prob = torch.softmax(logits, dim=0)[1]
    else:
        prob = logits[0]  # mmseg already applied the sigmoid for one channel
    conf = None
    if 'pred_conf' in sample:
        conf = _to_numpy_map(sample.pred_conf.data)
    score = None
    if 'pred_score' in sample:
        score = float(torch.as_tensor(sample.pred_score).reshape(-1)[0])
    elif 'score' in sample.metainfo:
        score = float(sample.metainfo['score'])
    modality = None
    if 'pred_modality' in sample:
        key = sample.metainfo.get('modality_key', 'modality')
        modality = (key, sample.pred_modality.data.detach().float()[0].cpu().numpy())
    return LocalizationOutput(map=_to_numpy_map(prob), conf=conf, score=score,
                              modality=modality)


def _to_numpy_map(data: torch.Tensor) -> np.ndarray:
    data = data.detach().float()
    while data.dim() > 2:
        data = data[0]
    return data.clamp(0, 1).cpu().numpy().astype(np.float32, copy=False)

