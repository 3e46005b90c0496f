"""MMFusion's ``modal_extractor``: the model's modalities under named slots."""
from typing import Dict, List, Sequence

import torch
import torch.nn as nn

from dp_plugin.modalities import BaseModality

#: Slot (attribute) names; the first three are MMFusion's, ``diffusionprint`` is ours.
SLOT_NAMES: Dict[str, str] = {'NoisePrintPP': 'noiseprint', 'Bayar': 'bayar', 'SRM': 'srm',
                              'DiffusionPrint': 'diffusionprint'}


def slot_name(modality: nn.Module) -> str:
    """Default slot of a modality: MMFusion's name, else the class name in lower case."""
    name = type(modality).__name__
    return SLOT_NAMES.get(name, name.lower())


class ModalitiesExtractor(nn.ModuleDict):
    """Ordered modalities reachable by slot name (``modal_extractor.noiseprint``, ...).

    Unlike upstream's fixed ``noiseprint, bayar, srm`` order, the order is the model's
    ``modalities`` list order, which also orders ``modal_mix.blocks``. A second modality
    of the same type gets the slot ``<name>_2`` (then ``_3``, ...). Each modality keeps its
    own freezing: frozen ones stay in eval mode and run without gradients; Bayar trains.

    Args:
        modalities (sequence of BaseModality): The built modalities, in order.
    """

    def __init__(self, modalities: Sequence[BaseModality]) -> None:
        named = {}
        for modality in modalities:
            if not isinstance(modality, BaseModality):
                raise TypeError(f'expected a BaseModality, got {type(modality).__name__}')
            base = name = slot_name(modality)
            n = 1
            while name in named:
                n += 1
                name = f'{base}_{n}'
            named[name] = modality
        super().__init__(named)

    @property
    def slots(self) -> List[str]:
        """Slot names in model order."""
        return list(self.keys())

    @property
    def out_channels(self) -> List[int]:
        """Output channels of each modality, in model order."""
        return [m.out_channels for m in self.values()]

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Maps of RGB ``x`` in [0, 1] (uint8 / 255), one per slot, in model order."""
        return [m(x) for m in self.values()]
