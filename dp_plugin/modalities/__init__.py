from .base_modality import BaseModality
from .bayar import Bayar
from .builder import build_modality
from .diffusion_print import DiffusionPrint
from .dncnn import DnCNN
from .dncnn_modality import DnCNNModality
from .noise_print_pp import NoisePrintPP
from .srm import SRM

__all__ = ['BaseModality', 'DnCNN', 'DnCNNModality', 'DiffusionPrint', 'NoisePrintPP',
           'SRM', 'Bayar', 'build_modality']
