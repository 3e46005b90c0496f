"""Inference helpers for a DnCNN: BatchNorm folding, fast memory layouts, bf16, tiling."""
import warnings
from typing import Callable, List, NamedTuple, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_weights

#: Layouts :class:`FoldedDnCNN` can run in. ``mkldnn_fused``: channels-last tensors through
#: oneDNN convolutions with the ReLU fused in (the op torch.compile uses on CPU).
LAYOUTS = ('auto', 'mkldnn', 'mkldnn_fused', 'channels_last', 'contiguous')

#: Inference precisions. ``'bf16'``: bfloat16 weights and activations, fp32 in and out.
PRECISIONS = ('fp32', 'bf16')


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 convolutions in hardware: a CUDA GPU with bf16,
    or a CPU with AVX512-BF16 or AMX (oneDNN only emulates bf16 elsewhere: slower than fp32)."""
    if device.type == 'cuda':
        return torch.cuda.is_bf16_supported()
    if device.type != 'cpu' or not torch.backends.mkldnn.is_available():
        return False
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """The compute dtype for ``precision`` on ``device``: bf16 only where it is native,
    otherwise fp32 with a warning."""
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    if precision == 'fp32':
        return torch.float32
    if not native_bf16(device):
        warnings.warn(f"precision='bf16' needs a GPU with bf16 or a CPU with AVX512-BF16/AMX; "
                      f'{device} has neither: running fp32', stacklevel=3)
        return torch.float32
    return torch.bfloat16


def _fused_conv_op():
    """oneDNN conv + pointwise post-op, or None when this torch build lacks it."""
    try:
        return torch.ops.mkldnn._convolution_pointwise.default
    except (AttributeError, RuntimeError):
        return None


class _Layer(NamedTuple):
    weight: torch.Tensor
    bias: Optional[torch.Tensor]
    padding: tuple
    relu: bool


def weights_fingerprint(module: nn.Module) -> tuple:
    """Changes whenever a parameter or buffer of ``module`` is replaced, moved or
    modified in place (``load_state_dict``, ``.to()``, optimizer steps, ``copy_``)."""
    return tuple((t.data_ptr(), t._version, t.dtype, t.device)
                 for t in list(module.parameters()) + list(module.buffers()))


def resolve_layout(layout: str, device: torch.device, dtype: torch.dtype) -> str:
    """The layout actually used. ``'auto'``: oneDNN conv with fused ReLU on CPU fp32
    (fastest measured, see docs/modalities.md), channels-last elsewhere (GPU, fp16);
    oneDNN layouts fall back to channels-last where oneDNN cannot run."""
    if layout not in LAYOUTS:
        raise ValueError(f'layout must be one of {LAYOUTS}, got {layout!r}')
    mkldnn_ok = (device.type == 'cpu' and dtype in (torch.float32, torch.bfloat16)
                 and torch.backends.mkldnn.is_available())
    if layout == 'auto':
        layout = 'mkldnn_fused'
    if layout == 'mkldnn' and dtype != torch.float32:
        layout = 'mkldnn_fused'  # blocked oneDNN tensors: fp32 only
    if layout == 'mkldnn_fused' and not (mkldnn_ok and _fused_conv_op() is not None):
        layout = 'mkldnn'
    if layout == 'mkldnn' and not mkldnn_ok:
        layout = 'channels_last'
    return layout


class FoldedDnCNN:
    """An inference-only copy of a :class:`~dp_plugin.modalities.dncnn.DnCNN` with every
    BatchNorm folded into the preceding convolution (eval-mode statistics).

    It is a plain object, not an ``nn.Module``: it never shows up in ``state_dict`` or
    ``parameters()``, and it never tracks gradients.

    Args:
        dncnn (nn.Sequential): Conv / BatchNorm2d / ReLU sequence.
        layout (str): One of :data:`LAYOUTS`.
        compute_dtype (torch.dtype, optional): Run in this dtype (e.g. ``torch.bfloat16``)
            instead of the weights' dtype: BN is folded in the weights' precision, then the
            folded weights are cast; the output is returned in the input's dtype.
    """

    def __init__(self, dncnn: nn.Sequential, layout: str = 'auto',
                 compute_dtype: Optional[torch.dtype] = None) -> None:
        ref = next(dncnn.parameters())
        self.dtype = ref.dtype if compute_dtype is None else compute_dtype
        self.cast_back = compute_dtype is not None
        self.layout = resolve_layout(layout, ref.device, self.dtype)
        layers: List[_Layer] = []
        modules = list(dncnn)
        with torch.no_grad():
            for i, m in enumerate(modules):
                if isinstance(m, nn.Conv2d):
                    if m.stride != (1, 1) or m.dilation != (1, 1) or m.groups != 1:
                        raise ValueError('FoldedDnCNN supports plain 3x3 convolutions only')
                    w, b = m.weight.detach(), None if m.bias is None else m.bias.detach()
                    nxt = modules[i + 1] if i + 1 < len(modules) else None
                    if isinstance(nxt, nn.BatchNorm2d):
                        w, b = fuse_conv_bn_weights(w, b, nxt.running_mean, nxt.running_var,
                                                    nxt.eps, nxt.weight, nxt.bias)
                        w, b = w.detach(), b.detach()
                    layers.append(_Layer(w.to(self.dtype, copy=True),
                                         None if b is None else b.to(self.dtype, copy=True),
                                         m.padding, False))
                elif isinstance(m, nn.ReLU):
                    layers[-1] = layers[-1]._replace(relu=True)
                elif not isinstance(m, nn.BatchNorm2d):
                    raise ValueError(f'FoldedDnCNN cannot fold {type(m).__name__}')
        if self.layout == 'mkldnn':
            layers = [_Layer(
                torch._C._nn.mkldnn_reorder_conv2d_weight(
                    lyr.weight.contiguous().to_mkldnn(), list(lyr.padding), [1, 1], [1, 1], 1),
                (lyr.bias if lyr.bias is not None
                 else lyr.weight.new_zeros(lyr.weight.shape[0])).to_mkldnn(),
                lyr.padding, lyr.relu) for lyr in layers]
        elif self.layout in ('channels_last', 'mkldnn_fused'):
            layers = [lyr._replace(weight=lyr.weight.contiguous(
                memory_format=torch.channels_last)) for lyr in layers]
        self.layers = layers

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Run in the compute dtype with autocast off (fp32 inside fp16 training)."""
        with torch.autocast(device_type=x.device.type, enabled=False):
            y = self._run(x.to(self.dtype))
        return y.to(x.dtype) if self.cast_back else y

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        if self.layout == 'mkldnn':
            y = x.contiguous().to_mkldnn()
            for lyr in self.layers:
                y = torch.mkldnn_convolution(y, lyr.weight, lyr.bias, list(lyr.padding),
                                             [1, 1], [1, 1], 1)
                if lyr.relu:
                    y = torch.relu_(y)
            return y.to_dense()
        y = x.contiguous(memory_format=torch.channels_last) \
            if self.layout != 'contiguous' else x.contiguous()
        if self.layout == 'mkldnn_fused':
            conv = _fused_conv_op()
            for lyr in self.layers:
                y = conv(y, lyr.weight, lyr.bias, list(lyr.padding), [1, 1], [1, 1], 1,
                         'relu' if lyr.relu else 'none', [], '')
            return y.contiguous()
        for lyr in self.layers:
            y = F.conv2d(y, lyr.weight, lyr.bias, padding=lyr.padding)
            if lyr.relu:
                y = F.relu(y, inplace=True)
        return y.contiguous()


def tiled_apply(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, tile_size: int,
                radius: int, out_channels: int) -> torch.Tensor:
    """Apply a translation-equivariant, zero-padded network ``fn`` tile by tile.

    Each ``tile_size`` x ``tile_size`` output tile is computed from its input window
    grown by ``radius`` pixels on every side (clipped at the image border), so the
    result equals ``fn(x)`` for any network whose receptive radius is ``radius``, while
    memory stays bounded by the window size.
    """
    if int(tile_size) != tile_size or tile_size < 1:
        raise ValueError(f'tile_size must be a positive integer, got {tile_size!r}')
    tile_size = int(tile_size)
    h, w = x.shape[-2:]
    if h <= tile_size and w <= tile_size:
        return fn(x)
    out = None
    for y0 in range(0, h, tile_size):
        y1 = min(y0 + tile_size, h)
        a0, a1 = max(y0 - radius, 0), min(y1 + radius, h)
        for x0 in range(0, w, tile_size):
            x1 = min(x0 + tile_size, w)
            b0, b1 = max(x0 - radius, 0), min(x1 + radius, w)
            tile = fn(x[..., a0:a1, b0:b1])
            if out is None:
                out = tile.new_empty(x.shape[0], out_channels, h, w)
            out[..., y0:y1, x0:x1] = tile[..., y0 - a0:y1 - a0, x0 - b0:x1 - b0]
    return out
