"""Put DiffusionPrint into an upstream MMFusion model in place of Noiseprint++.

Works on upstream MMFusion-IML objects (``ModalitiesExtractor`` + ``CMNeXtWithConf``
with the early-fusion ``MixCMNeXtMHSA`` backbone) and on dp_plugin's ``MMFusion``, found
by attribute names only (no import of upstream code)::

    from dp_plugin.adapters.mmfusion import swap_noiseprint_for_diffusionprint
    patch = swap_noiseprint_for_diffusionprint(
        modal_extractor, model,
        dict(type='DiffusionPrint', checkpoint='diffusionprint.safetensors'))
    # train as usual; patch.trainable lists the parameters that start untrained

What changes:

- ``modal_extractor.noiseprint`` becomes the frozen DiffusionPrint (eval mode, no
  gradients, float32 outside autocast). Upstream's ``ModalitiesExtractor.forward`` does
  not read that attribute: it loops over ``mod_extract``, a plain Python list filled in
  ``__init__`` (``noiseprint, bayar, srm``, those requested), so the entry holding the old
  Noiseprint++ in that list is replaced too. Upstream feeds its extractor ``uint8 / 256``;
  the slot rescales that to the ``/255`` input the modality expects (``input_divisor``).
  Its 64-channel output passes upstream's "tile 1-channel maps" test untouched, and
  upstream's ``set_train()`` / ``set_val()`` (which switch Bayar only) or a plain
  ``.train()`` never put it in training mode.
- ``model.backbone.modal_mix.blocks[k]`` (``k`` = the Noiseprint++ position: 0 in
  upstream's fixed ``noiseprint, bayar, srm`` order) becomes an early-conv block taking
  64 channels. Everything but its first kernel is copied from the old block; all other
  weights of the model are untouched, so an official checkpoint loaded before the patch
  stays in use. Load official checkpoints *before* patching (or drop
  ``patch.dropped_keys`` from them).
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn

from dp_plugin.modalities import BaseModality, build_modality
from dp_plugin.models.fusion import EarlyConv

#: Upstream's fixed modality order.
UPSTREAM_ORDER = ('noiseprint', 'bayar', 'srm')


class UpstreamInputSlot(nn.Module):
    """Run a dp_plugin modality on upstream's input scaling, in float32.

    Upstream passes ``uint8 / input_divisor`` (256 for MMFusion); dp_plugin modalities
    take ``uint8 / 255``. The wrapped modality is reachable as ``modality``.
    """

    def __init__(self, modality: BaseModality, input_divisor: float = 256.0) -> None:
        super().__init__()
        self.modality = modality
        self.scale = float(input_divisor) / 255.0
        self.out_channels = modality.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            return self.modality(x.float() * self.scale)


@dataclass
class MMFusionPatch:
    """What :func:`swap_noiseprint_for_diffusionprint` changed."""

    #: Index of the replaced block in ``backbone.modal_mix.blocks``.
    block_index: int
    #: The new early-conv block (64 -> 3 channels).
    block: nn.Module
    #: The frozen DiffusionPrint now in the ``noiseprint`` slot.
    diffusionprint: BaseModality
    #: Parameters that start untrained and must be trained (the new block's), by model key.
    trainable: Dict[str, nn.Parameter] = field(default_factory=dict)
    #: Model keys whose shape changed: drop them from checkpoints saved before the patch.
    dropped_keys: List[str] = field(default_factory=list)


def _noiseprint_index(modal_extractor: nn.Module) -> int:
    if hasattr(modal_extractor, 'keys'):  # dp_plugin's ModalitiesExtractor (model order)
        return list(modal_extractor.keys()).index('noiseprint')
    return 0  # upstream: fixed order, noiseprint first when present


def _run_list_index(modal_extractor: nn.Module) -> Optional[int]:
    """Where upstream's ``mod_extract`` list (what ``forward`` runs) holds ``noiseprint``.

    None for dp_plugin's extractor, whose forward reads its registered modules.
    """
    run_list = getattr(modal_extractor, 'mod_extract', None)
    if run_list is None:
        return None
    if not isinstance(run_list, list):
        raise TypeError(f'{type(modal_extractor).__name__}.mod_extract is a '
                        f'{type(run_list).__name__}, expected upstream\'s plain list')
    hits = [i for i, m in enumerate(run_list) if m is modal_extractor.noiseprint]
    if len(hits) != 1:
        raise RuntimeError(f'{type(modal_extractor).__name__}.mod_extract holds the noiseprint '
                           f'module {len(hits)} times (expected once): cannot tell what its '
                           'forward runs')
    return hits[0]


def _frozen(diffusionprint: Union[dict, BaseModality]) -> BaseModality:
    dp = build_modality(diffusionprint)
    dp.freeze()
    return dp


def swap_noiseprint_for_diffusionprint(modal_extractor: nn.Module, model: nn.Module,
                                       diffusionprint: Union[dict, BaseModality],
                                       input_divisor: float = 256.0,
                                       keep_block_weights: bool = True) -> MMFusionPatch:
    """Replace Noiseprint++ by DiffusionPrint in ``modal_extractor`` and widen its block.

    Args:
        modal_extractor: Upstream ``ModalitiesExtractor`` or dp_plugin's
            ``model.modal_extractor`` (needs a ``noiseprint`` attribute).
        model: Upstream ``CMNeXtWithConf`` (early fusion) or dp_plugin ``MMFusion``
            (needs ``backbone.modal_mix.blocks``).
        diffusionprint: A ``DiffusionPrint`` modality or its config dict; frozen here.
        input_divisor: Divisor of the uint8 pixels the extractor receives: 256 upstream,
            255 for dp_plugin's ``MMFusion`` (then the modality goes in unwrapped).
        keep_block_weights: Copy the old block's weights except its first kernel
            (default) instead of a fresh random block.

    Returns:
        :class:`MMFusionPatch`.
    """
    if not isinstance(getattr(modal_extractor, 'noiseprint', None), nn.Module):
        raise AttributeError(f'{type(modal_extractor).__name__} has no "noiseprint" module: '
                             'build the extractor with the noiseprint modality')
    mix = getattr(getattr(model, 'backbone', None), 'modal_mix', None)
    if mix is None or not hasattr(mix, 'blocks'):
        raise AttributeError(
            f'{type(model).__name__}.backbone has no modal_mix.blocks: only the early-fusion '
            'model (MixCMNeXtMHSA / EarlyFusionDualMiT) is patched here. Late fusion: widen '
            'the first patch embedding of the noiseprint stream; token selection: add a '
            'projection to 3 channels (docs/mmfusion.md)')
    run_index = _run_list_index(modal_extractor)  # upstream: the slot's position is its block
    k = _noiseprint_index(modal_extractor) if run_index is None else run_index
    old = mix.blocks[k]
    convs = [seq[0] for seq in old.convs]
    dp = _frozen(diffusionprint)
    new = EarlyConv(in_channels=dp.out_channels, out_channels=old.final.out_channels,
                    hidden_channels=[c.out_channels for c in convs])
    if keep_block_weights:
        state = {key: v for key, v in old.state_dict().items() if key != 'convs.0.0.weight'}
        missing, unexpected = new.load_state_dict(state, strict=False)
        if unexpected or missing != ['convs.0.0.weight']:
            raise RuntimeError(f'block {k} does not have the early-conv layout: missing '
                               f'{missing}, unexpected {unexpected}')
    param = next(old.parameters())
    new.to(device=param.device, dtype=param.dtype).train(old.training)
    mix.blocks[k] = new
    slot = dp if float(input_divisor) == 255.0 else UpstreamInputSlot(dp, input_divisor)
    slot = slot.to(param.device)
    if run_index is not None:
        modal_extractor.mod_extract[run_index] = slot
    setattr(modal_extractor, 'noiseprint', slot)
    for owner in (mix, model.backbone):  # dp_plugin's width bookkeeping (input checks)
        widths = getattr(owner, 'modal_channels' if owner is model.backbone else 'in_channels',
                         None)
        if isinstance(widths, list):
            widths[k] = dp.out_channels
    prefix = f'backbone.modal_mix.blocks.{k}.'
    return MMFusionPatch(block_index=k, block=new, diffusionprint=dp,
                         trainable={prefix + n: p for n, p in new.named_parameters()},
                         dropped_keys=[prefix + 'convs.0.0.weight'])
