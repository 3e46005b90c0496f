"""Upstream-compatible TruFor ``.npz`` outputs (``map``, ``conf``, ``score``, ``imgsize``).

Upstream ``test.py`` writes one ``<output>/<relative input path>.npz`` per image with
``map`` (forged-class probability, H x W), ``conf`` (sigmoid confidence, if a confidence
head exists), ``score`` (sigmoid integrity score, if a detection head exists),
``imgsize`` ``(H, W)`` and, with ``--save_np``, ``np++`` (Noiseprint++ channel 0). The
same keys are written here; the modality summary is stored under the model's
``modality_key`` (``np++`` for Noiseprint++, ``diffusionprint_l2`` = channel L2 norm
for DiffusionPrint).
"""
from typing import Dict, Union

import numpy as np
import torch
from mmengine.structures import BaseDataElement

from dp_plugin.utils import atomic_write
from .forgery_metric import probability_map


def _array(x) -> np.ndarray:
    if isinstance(x, dict):
        x = x['data']
    if isinstance(x, BaseDataElement):
        x = x.data
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    return np.asarray(x)


def trufor_npz_arrays(sample: Union[dict, BaseDataElement],
                      save_modality: bool = True) -> Dict[str, np.ndarray]:
    """The ``.npz`` payload of one predicted sample (a ``SegDataSample`` or its dict)."""
    if isinstance(sample, BaseDataElement):
        sample = sample.to_dict()
    prob = probability_map(sample).astype(np.float32)
    out = {'map': prob, 'imgsize': np.asarray(prob.shape, dtype=np.int64)}
    if sample.get('pred_conf') is not None:
        out['conf'] = _array(sample['pred_conf']).squeeze(0).astype(np.float32)
    if sample.get('pred_score') is not None:
        out['score'] = np.float32(_array(sample['pred_score']).reshape(-1)[0])
    if save_modality and sample.get('pred_modality') is not None:
        key = sample.get('modality_key', 'modality')
        out[key] = _array(sample['pred_modality']).squeeze(0).astype(np.float32)
    return out


def write_npz_atomic(path: str, arrays: Dict[str, np.ndarray]) -> None:
    """``np.savez`` to ``path`` through a temporary file and a rename."""
    with atomic_write(path) as f:
        np.savez(f, **arrays)
