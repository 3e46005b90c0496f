"""DiffusionPrint: the generative-fingerprint modality."""
import os.path as osp
from typing import Any, Optional

import torch
from mmengine.logging import print_log

from dp_plugin.registry import MODELS
from .checkpoint_formats import (trained_input_filter_of, export_metadata_or_none,
                                 load_dncnn_state_dict)
from .dncnn_modality import DnCNNModality
from .high_pass import build_high_pass

_DEFAULTS = dict(out_channels=64, depth=17, width=64, pixel_divisor=255.0, input_highpass=None)


@MODELS.register_module()
class DiffusionPrint(DnCNNModality):
    """Frozen DiffusionPrint extractor: a 17-layer DnCNN with a 64-channel output.

    Trained on ``ToTensor()`` inputs, hence ``pixel_divisor=255`` by default.

    With a dp_plugin export (``.safetensors``) as ``checkpoint``, every setting left at
    ``None`` is taken from the export's metadata (architecture, ``pixel_divisor``,
    ``input_highpass``), so ``dict(type='DiffusionPrint', checkpoint='dp.safetensors')``
    reproduces the pretraining setup. An explicit architecture that contradicts the
    export is an error; an explicit ``pixel_divisor`` / ``input_highpass`` that does
    is honoured with a warning. :meth:`from_export` is the same in one call. With the
    authors' training checkpoint, ``input_highpass`` defaults to the filter recorded in
    its ``args`` (their Gaussian high-pass), with a pretraining runner checkpoint
    (``epoch_N.pth``) to the one in the config it stores (read as data); a checkpoint whose filter cannot be
    reproduced, or an explicit other filter, is refused (never loaded silently).

    Args:
        checkpoint (str, optional): Weights: this project's export, the authors'
            training checkpoint (``model_state_dict`` with ``encoder_q.*``) and others
            (see :mod:`dp_plugin.modalities.checkpoint_formats`).
        out_channels (int, optional): Output channels. Defaults to 64.
        depth (int, optional): DnCNN depth. Defaults to 17.
        width (int, optional): DnCNN width. Defaults to 64.
        frozen (bool): Freeze the extractor. Defaults to True.
        pixel_divisor (float, optional): Defaults to 255.
        input_highpass (float | dict, optional): Input filter applied to the whole
            input before the DnCNN: an FFT high-pass cut-off (the HP-filter ablation) or
            ``dict(type='gaussian', sigma=1.0)`` (the authors' high-pass). None: from the
            export metadata, the authors' ``args`` or a runner checkpoint's config, else off;
            0 forces it off (refused for a checkpoint trained with a filter).
        **kwargs: ``tile_size``, ``fast_inference``, ``inference_layout``,
            ``precision`` (``'fp32'`` / ``'bf16'``) and ``init_cfg`` of
            :class:`DnCNNModality`.
    """

    def __init__(self, checkpoint: Optional[str] = None, out_channels: Optional[int] = None,
                 depth: Optional[int] = None, width: Optional[int] = None,
                 frozen: bool = True, pixel_divisor: Optional[float] = None,
                 input_highpass: Optional[float] = None, **kwargs) -> None:
        if isinstance(checkpoint, str):  # the configs' model home default starts with '~'
            checkpoint = osp.expanduser(checkpoint)
        given = dict(out_channels=out_channels, depth=depth, width=width,
                     pixel_divisor=pixel_divisor, input_highpass=input_highpass)
        cfg = self._resolve(checkpoint, given)
        super().__init__(out_channels=cfg['out_channels'], depth=cfg['depth'],
                         width=cfg['width'], checkpoint=None, frozen=frozen,
                         pixel_divisor=cfg['pixel_divisor'], **kwargs)
        self.input_highpass = cfg['input_highpass'] or None
        self.high_pass = build_high_pass(self.input_highpass)
        if checkpoint is not None:  # after the filter: the loader checks it
            self.load_checkpoint(checkpoint)

    def load_checkpoint(self, filename: str, prefix: Optional[str] = None) -> None:
        """Load DnCNN weights from ``filename``; the authors' checkpoints must have been
        trained with this modality's ``input_highpass``."""
        state_dict = load_dncnn_state_dict(filename, self.dncnn, prefix=prefix,
                                           input_filter=self.input_highpass)
        self.dncnn.load_state_dict(state_dict, strict=True)
        self.checkpoint, self._checkpoint_prefix = filename, prefix

    @classmethod
    def from_export(cls, path: str, **overrides: Any) -> 'DiffusionPrint':
        """Build the modality described by a dp_plugin export and load its weights."""
        if export_metadata_or_none(path) is None:
            from .checkpoint_formats import read_export_metadata
            read_export_metadata(path)  # raises the explanatory error
        return cls(checkpoint=path, **overrides)

    @staticmethod
    def _resolve(checkpoint: Optional[str], given: dict) -> dict:
        meta = export_metadata_or_none(checkpoint) if checkpoint is not None else None
        if meta is None:
            defaults = dict(_DEFAULTS)
            if checkpoint is not None:
                defaults['input_highpass'] = trained_input_filter_of(checkpoint)
            return {k: defaults[k] if v is None else v for k, v in given.items()}
        stored = dict(meta.get('architecture', {}))
        stored.update(pixel_divisor=meta.get('pixel_divisor', 255.0),
                      input_highpass=meta.get('input_highpass'))
        cfg = {}
        for key, value in given.items():
            exported = stored.get(key, _DEFAULTS[key])
            if value is None:
                cfg[key] = exported
                continue
            cfg[key] = value
            if value == exported or (key == 'input_highpass' and not value and not exported):
                continue
            if key in ('out_channels', 'depth', 'width'):
                raise ValueError(f'{checkpoint}: the export holds a DnCNN with {key}='
                                 f'{exported}, but {key}={value} was requested')
            print_log(f'{checkpoint}: the export was trained with {key}={exported}; '
                      f'using {key}={value} as requested', logger='current',
                      level=30)  # logging.WARNING
        return cfg

    def extract(self, x: torch.Tensor, tile_size: Optional[int] = None) -> torch.Tensor:
        if self.high_pass is not None:  # global filter: applied before any tiling
            x = self.high_pass(x)
        return super().extract(x, tile_size=tile_size)
