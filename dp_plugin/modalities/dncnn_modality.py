"""Shared machinery of the DnCNN-based modalities (DiffusionPrint, Noiseprint++)."""
import os.path as osp
from typing import Optional

import torch

from .base_modality import BaseModality
from .dncnn import DnCNN
from .fast_dncnn import (LAYOUTS, PRECISIONS, FoldedDnCNN, resolve_precision, tiled_apply,
                         weights_fingerprint)


def set_inference_precision(model: torch.nn.Module, precision: str) -> torch.dtype:
    """Set ``precision`` on every :class:`DnCNNModality` inside ``model`` and return the
    dtype the rest of ``model`` should autocast to on its device (``torch.float32`` where
    bf16 is not native: then everything stays fp32)."""
    device = next(model.parameters()).device
    dtype = resolve_precision(precision, device)
    for module in model.modules():
        if isinstance(module, DnCNNModality):
            module.precision = precision if dtype == torch.bfloat16 else 'fp32'
    return dtype


class DnCNNModality(BaseModality):
    """A modality whose extractor is a :class:`DnCNN`.

    Inference (eval mode without autograd, which is every forward of a frozen modality)
    runs a BN-folded copy of the network in the fastest layout (see
    :class:`~dp_plugin.modalities.fast_dncnn.FoldedDnCNN`). The copy is rebuilt
    whenever the weights change (``load_state_dict``, ``load_checkpoint``, ``.to()``,
    in-place edits) and never appears in ``state_dict``. Training forwards use the
    plain network.

    Large images: ``tile_size`` (or ``modality(x, tile_size=...)``) computes the map in
    tiles with an overlap of the receptive radius (``depth`` pixels), which gives the
    same output as the untiled forward with bounded memory (eval mode only).

    Args:
        out_channels (int): DnCNN output channels.
        depth (int): DnCNN depth. Defaults to 17.
        width (int): DnCNN width. Defaults to 64.
        checkpoint (str, optional): Weights in any supported format
            (see :mod:`dp_plugin.modalities.checkpoint_formats`).
        frozen (bool): Freeze the extractor. Defaults to True.
        pixel_divisor (float): See :class:`BaseModality`.
        tile_size (int, optional): Default output tile size; None runs untiled.
        fast_inference (bool): Use the folded network for inference. Defaults to True.
        inference_layout (str): ``'auto'`` (on CPU fp32 oneDNN convolutions with fused
            ReLU on channels-last tensors, channels-last otherwise), ``'mkldnn_fused'``,
            ``'mkldnn'`` (oneDNN blocked tensors), ``'channels_last'`` or
            ``'contiguous'``.
        precision (str): ``'fp32'`` (default) or ``'bf16'``: the folded network runs
            with bfloat16 weights and activations (input and output stay fp32), on GPUs
            with bf16 and CPUs with AVX512-BF16 / AMX; elsewhere it warns and runs fp32.
            Inference only: training forwards use the plain fp32 network.
    """

    def __init__(self, out_channels: int, depth: int = 17, width: int = 64,
                 checkpoint: Optional[str] = None, frozen: bool = True,
                 pixel_divisor: float = 255.0, tile_size: Optional[int] = None,
                 fast_inference: bool = True, inference_layout: str = 'auto',
                 precision: str = 'fp32', init_cfg=None) -> None:
        super().__init__(frozen=frozen, pixel_divisor=pixel_divisor, init_cfg=init_cfg)
        if inference_layout not in LAYOUTS:
            raise ValueError(f'inference_layout must be one of {LAYOUTS}, '
                             f'got {inference_layout!r}')
        if tile_size is not None and (int(tile_size) != tile_size or tile_size < 1):
            raise ValueError(f'tile_size must be a positive integer, got {tile_size!r}')
        self.out_channels = out_channels
        self.dncnn = DnCNN(3, out_channels, depth=depth, width=width)
        self.tile_size = tile_size
        self.fast_inference = fast_inference
        self.inference_layout = inference_layout
        self.precision = precision
        self._folded: Optional[FoldedDnCNN] = None
        self._folded_key: Optional[tuple] = None
        self.checkpoint = checkpoint
        self._checkpoint_prefix: Optional[str] = None
        if checkpoint is not None:
            self.load_checkpoint(checkpoint)
        self._apply_frozen()

    def load_checkpoint(self, filename: str, prefix: Optional[str] = None) -> None:
        """Load DnCNN weights from ``filename`` (any supported format; ``~`` is expanded,
        as the configs' model-home default starts with it)."""
        from .checkpoint_formats import load_dncnn_state_dict
        filename = osp.expanduser(filename)
        state_dict = load_dncnn_state_dict(filename, self.dncnn, prefix=prefix)
        self.dncnn.load_state_dict(state_dict, strict=True)
        self.checkpoint, self._checkpoint_prefix = filename, prefix

    def init_weights(self) -> None:
        """mmengine initialisation; the checkpoint's weights always win.

        A parent's layer-wise ``init_cfg`` (e.g. ``Kaiming`` on every ``Conv2d``) is
        applied to the whole module tree before children are initialised, so the
        checkpoint is loaded again here instead of being silently overwritten.
        """
        if self.checkpoint is None:
            super().init_weights()
        else:
            self.load_checkpoint(self.checkpoint, self._checkpoint_prefix)
            self._is_init = True

    @property
    def precision(self) -> str:
        """Inference precision, ``'fp32'`` or ``'bf16'`` (may be changed at any time)."""
        return self._precision

    @precision.setter
    def precision(self, value: str) -> None:
        if value not in PRECISIONS:
            raise ValueError(f'precision must be one of {PRECISIONS}, got {value!r}')
        self._precision = value

    def folded(self) -> FoldedDnCNN:
        """The BN-folded inference copy of the current weights (rebuilt on change)."""
        key = weights_fingerprint(self.dncnn) + (self.inference_layout, self.precision)
        if self._folded is None or key != self._folded_key:
            device = next(self.dncnn.parameters()).device
            dtype = resolve_precision(self.precision, device)
            self._folded = FoldedDnCNN(self.dncnn, self.inference_layout,
                                       compute_dtype=None if dtype == torch.float32 else dtype)
            self._folded_key = key
        return self._folded

    def run_dncnn(self, x: torch.Tensor, tile_size: Optional[int] = None) -> torch.Tensor:
        """Apply the DnCNN to already rescaled ``x`` (folded when inferring, tiled if asked)."""
        if self.fast_inference and not self.training and not torch.is_grad_enabled():
            net = self.folded()
        else:
            net = self.dncnn
        if tile_size is None:
            return net(x)
        return tiled_apply(net, x, tile_size, self.dncnn.receptive_radius,
                           self.dncnn.out_channels)

    def extract(self, x: torch.Tensor, tile_size: Optional[int] = None) -> torch.Tensor:
        """DnCNN map of ``x``; ``tile_size`` overrides the modality's default.

        Tiling needs eval-mode BatchNorm (batch statistics differ per tile): in training
        mode the default ``tile_size`` is ignored and an explicit one is an error.
        """
        if self.training:
            if tile_size is not None:
                raise ValueError('tiled DnCNN forward needs eval mode: in training mode '
                                 'BatchNorm statistics would differ from tile to tile')
            return self.run_dncnn(x)
        return self.run_dncnn(x, self.tile_size if tile_size is None else tile_size)

    def __getstate__(self) -> dict:
        # The folded copy (possibly oneDNN tensors) is a cache: never pickle or copy it.
        state = self.__dict__.copy()
        state['_folded'] = None
        state['_folded_key'] = None
        return state
