"""Contrastive pretraining of DiffusionPrint: patch pairs, model, dataset, hooks."""
from . import atomic_local_backend  # noqa: F401  (registers the 'atomic_local' backend)
from .diffusion_print_pretrainer import DiffusionPrintPretrainer, EmbeddingNet
from .feature_queue import FeatureQueue
from .mixed_precision_optim_wrapper import MixedPrecisionOptimWrapper
from .patch_pair_data_preprocessor import PatchPairDataPreprocessor
from .patch_pair_dataset import PatchPairDataset
from .queue_fill_hook import QueueFillHook
from .rng_state_hook import RNGStateHook

__all__ = ['DiffusionPrintPretrainer', 'EmbeddingNet', 'FeatureQueue', 'MixedPrecisionOptimWrapper',
           'PatchPairDataPreprocessor', 'PatchPairDataset', 'QueueFillHook', 'RNGStateHook']
