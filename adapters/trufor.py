"""Patch an upstream TruFor model (grip-unina/TruFor) to use DiffusionPrint.

Upstream TruFor is not a dependency: the model is duck-typed. It must have ``dncnn``
(the Noiseprint++ extractor, called on RGB in [0, 1) = uint8 / 256 and kept frozen
through ``FIX_MODULES: ['NP++']``) and ``backbone.extra_patch_embed1`` (the first patch
embedding of the noise stream). dp_plugin's own :class:`~dp_plugin.models.TruFor`
exposes the same names, which is how this module is tested.

What :func:`patch_trufor` changes:

- ``model.dncnn`` becomes a :class:`TruForModalitySlot` holding a frozen
  :class:`~dp_plugin.modalities.DiffusionPrint` (64 channels). It rescales the upstream
  ``/256`` input to the ``/255`` DiffusionPrint was trained on and stays in eval mode, so
  the ``FIX_MODULES`` branch (``no_grad`` + ``.eval()``) and ``--save_np`` (which stores
  channel 0 of ``dncnn``'s output) keep working.
- ``model.np_out_ch`` (if present) is set to 3 so upstream's forward skips its
  1-channel tiling and passes the map through.
- adapter ``'simple'`` / ``'deep'``: a trainable :class:`ModalityAdapter` (64 -> 3) is
  attached to ``backbone.extra_patch_embed1`` as ``dp_adapter`` and applied to its input
  by a forward pre-hook. It must not live inside ``dncnn``: upstream runs ``dncnn`` under
  ``torch.no_grad()``.
- adapter ``'widen'``: the convolution of ``backbone.extra_patch_embed1`` is replaced by
  one taking 64 channels, initialised by inflating the current (e.g. ImageNet) kernel.

Apply the patch right after building the model and before loading any checkpoint of
the patched model (its keys include ``dncnn.modality.*`` and, for ``simple``/``deep``,
``backbone.extra_patch_embed1.dp_adapter.*``). Build the optimizer after the patch (as
upstream ``train.py`` does) or add the returned parameters to it.
"""
from typing import List, Optional, Tuple

import torch
import torch.nn as nn

from dp_plugin.modalities import BaseModality, DiffusionPrint
from dp_plugin.models.converters.mit_keys import inflate_input_channels
from dp_plugin.models.fusion import ADAPTER_KINDS, ModalityAdapter

__all__ = ['TruForModalitySlot', 'patch_trufor', 'patch_trufor_from_cfg', 'YACS_KEYS']

#: ``MODEL.EXTRA`` keys read by :func:`patch_trufor_from_cfg` (``MODEL.EXTRA`` accepts new
#: keys in upstream's yacs config).
YACS_KEYS = ('DP_WEIGHTS', 'DP_ADAPTER', 'DP_INPUT_HIGHPASS')


class TruForModalitySlot(nn.Module):
    """Stands in for upstream's ``dncnn``: a frozen modality fed upstream's input scaling.

    Args:
        modality (BaseModality): The extractor (frozen).
        input_divisor (float): Divisor of the uint8 pixels the model passes to ``dncnn``
            (256 upstream); inputs are rescaled to the ``/255`` convention of modalities.
    """

    def __init__(self, modality: BaseModality, input_divisor: float = 256.0) -> None:
        super().__init__()
        self.modality = modality.freeze()
        self.input_divisor = float(input_divisor)
        self.out_channels = modality.out_channels

    def train(self, mode: bool = True) -> 'TruForModalitySlot':
        return super().train(False)  # frozen: BN statistics never update

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.modality(x * (self.input_divisor / 255.0))


def _apply_dp_adapter(module: nn.Module, args: Tuple) -> Tuple:
    """Forward pre-hook of the patched patch embedding: adapt its input first."""
    return (module.dp_adapter(args[0]),) + tuple(args[1:])


def _find_model(model: nn.Module) -> nn.Module:
    """Descend DataParallel (``.module``) / upstream ``FullModel`` (``.model``) wrappers."""
    seen = model
    for _ in range(4):
        if hasattr(seen, 'dncnn') and hasattr(getattr(seen, 'backbone', None),
                                               'extra_patch_embed1'):
            return seen
        inner = getattr(seen, 'module', None) or getattr(seen, 'model', None)
        if not isinstance(inner, nn.Module):
            break
        seen = inner
    raise TypeError(f'{type(model).__name__} does not look like a TruFor model: expected '
                    'attributes "dncnn" and "backbone.extra_patch_embed1"')


def _patch_conv(embed: nn.Module) -> Tuple[str, nn.Conv2d]:
    """The input convolution of a patch embedding (``proj`` upstream, ``projection`` mmseg)."""
    for name, child in embed.named_children():
        if isinstance(child, nn.Conv2d):
            return name, child
    raise TypeError(f'{type(embed).__name__} has no Conv2d child to widen')


def patch_trufor(model: nn.Module,
                 dp_weights: Optional[str] = None,
                 adapter: str = 'simple',
                 input_highpass: Optional[float] = None,
                 modality: Optional[BaseModality] = None,
                 input_divisor: Optional[float] = None) -> List[nn.Parameter]:
    """Swap TruFor's Noiseprint++ for DiffusionPrint; returns the new trainable parameters.

    Args:
        model (nn.Module): An upstream TruFor model (or a wrapper holding it).
        dp_weights (str, optional): DiffusionPrint weights (any format
            :class:`DiffusionPrint` reads). Required unless ``modality`` is given.
        adapter (str): ``'simple'``, ``'deep'`` or ``'widen'``.
        input_highpass (float, optional): See :class:`DiffusionPrint`.
        modality (BaseModality, optional): A ready extractor instead of ``dp_weights``.
        input_divisor (float, optional): Divisor of the pixels the model hands ``dncnn``;
            defaults to the model's ``dncnn_input_divisor`` or 256 (upstream).

    Returns:
        list[nn.Parameter]: Parameters added by the patch (adapter, or widened conv).
    """
    if adapter not in ADAPTER_KINDS:
        raise ValueError(f'adapter must be one of {ADAPTER_KINDS}, got {adapter!r}')
    net = _find_model(model)
    if isinstance(net.dncnn, TruForModalitySlot):
        raise RuntimeError('this TruFor model is already patched')
    if modality is None:
        if dp_weights is None:
            raise ValueError('give dp_weights (DiffusionPrint weights) or a modality')
        modality = DiffusionPrint(checkpoint=dp_weights, input_highpass=input_highpass)
    if input_divisor is None:
        input_divisor = getattr(net, 'dncnn_input_divisor', 256.0)
    device = next(net.backbone.parameters()).device
    net.dncnn = TruForModalitySlot(modality, input_divisor).to(device)
    if hasattr(net, 'np_out_ch'):
        net.np_out_ch = 3  # upstream forward: no 1-channel tiling, map passes through
    embed = net.backbone.extra_patch_embed1
    channels = modality.out_channels
    if adapter == 'widen':
        name, old = _patch_conv(embed)
        new = nn.Conv2d(channels, old.out_channels, old.kernel_size, old.stride, old.padding,
                        old.dilation, old.groups, old.bias is not None).to(device)
        with torch.no_grad():
            new.weight.copy_(inflate_input_channels(old.weight, channels))
            if old.bias is not None:
                new.bias.copy_(old.bias)
        setattr(embed, name, new)
        params = list(new.parameters())
    else:
        embed.dp_adapter = ModalityAdapter(channels, kind=adapter).to(device)
        embed.register_forward_pre_hook(_apply_dp_adapter)
        channels = embed.dp_adapter.out_channels
        params = list(embed.dp_adapter.parameters())
    if hasattr(net.backbone, 'extra_in_channels'):
        net.backbone.extra_in_channels = modality.out_channels
    return params


def patch_trufor_from_cfg(model: nn.Module, cfg) -> List[nn.Parameter]:
    """Apply :func:`patch_trufor` from upstream's yacs config (``MODEL.EXTRA.DP_*``).

    No-op (returns ``[]``) when ``MODEL.EXTRA.DP_WEIGHTS`` is absent or empty.
    """
    extra = cfg.MODEL.EXTRA
    weights = extra.get('DP_WEIGHTS', '') or ''
    if not weights:
        return []
    highpass = extra.get('DP_INPUT_HIGHPASS', None)
    return patch_trufor(model, dp_weights=weights, adapter=extra.get('DP_ADAPTER', 'simple'),
                        input_highpass=float(highpass) if highpass else None)
