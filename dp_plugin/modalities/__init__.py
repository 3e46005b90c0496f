from .base_modality import BaseModality
from .bayar import Bayar
from .builder import build_modality
from .checkpoint_formats import (CheckpointFormatError, load_dncnn_state_dict,
                                 read_export_metadata, save_modality_export)
from .diffusionprint import DiffusionPrint
from .dncnn import DnCNN
from .dncnn_modality import DnCNNModality
from .noiseprintpp import NoisePrintPP
from .srm import SRM

__all__ = ['BaseModality', 'DnCNN', 'DnCNNModality', 'DiffusionPrint', 'NoisePrintPP',
           'SRM', 'Bayar', 'build_modality', 'CheckpointFormatError', 'load_dncnn_state_dict',
           'read_export_metadata', 'save_modality_export']
