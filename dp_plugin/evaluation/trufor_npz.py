"""Upstream-compatible TruFor ``.npz`` outputs: one convention for every model kind.

Upstream ``test.py`` writes one ``<output>/<relative input path>.npz`` per image with
``map``, ``imgsize`` and, when the model has the heads, ``conf`` and ``score``; with
``--save_np`` it adds ``np++`` (channel 0 of the Noiseprint++ map). Upstream
``visualize.py`` reads ``result['map']`` (``RdBu_r``, clim [0, 1]), ``result['conf']``
(grey, clim [0, 1]) and formats ``result['score']`` with ``%.3f`` unconditionally, and shows
``result['np++'][16:-16:5, 16:-16:5]`` when the key exists. So every file written here
(``tools/test.py`` hook and ``dp-localize``) carries:

* ``map``: float32 (H, W), probability of the forged class;
* ``imgsize``: int64 ``[H, W]``;
* ``conf``: float32 (H, W), confidence in [0, 1]; **all NaN** when the model has no
  confidence head (Lite Baseline, TruFor phase 2);
* ``score``: float32 scalar, image-level forgery probability; **NaN** without a
  detection head;
* ``np++`` (only when the modality is saved): float32 (H, W), the model's 1-channel view
  of its modality, whatever the modality, under upstream's key;
* ``modality_kind`` (with ``np++``): str, what ``np++`` holds: ``'np++'`` = Noiseprint++
  channel 0 as upstream, ``'diffusionprint_l2'`` = L2 norm over DiffusionPrint's channels.

NaN is "not available", never a value: test with ``np.isnan``.
"""
from typing import Dict, Optional, Tuple, Union

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


def npz_payload(prob: np.ndarray, conf: Optional[np.ndarray] = None,
                score: Optional[float] = None,
                modality: Optional[Tuple[str, np.ndarray]] = None) -> Dict[str, np.ndarray]:
    """The arrays of one image in the convention of the module docstring.

    Args:
        prob: ``(H, W)`` forged-class probability.
        conf: ``(H, W)`` confidence, ``None`` when the model has no confidence head.
        score: Detection score, ``None`` without a detection head.
        modality: ``(kind, (H, W) array)`` to store under ``np++``, or ``None``.
    """
    prob = np.asarray(prob, dtype=np.float32)
    out = {'map': prob, 'imgsize': np.asarray(prob.shape, dtype=np.int64),
           'conf': (np.full(prob.shape, np.nan, np.float32) if conf is None
                    else np.asarray(conf, dtype=np.float32)),
           'score': np.float32(np.nan if score is None else score)}
    if modality is not None:
        out['np++'] = np.asarray(modality[1], dtype=np.float32)
        out['modality_kind'] = np.asarray(str(modality[0]))
    return out


def trufor_npz_arrays(sample: Union[dict, BaseDataElement],
                      save_modality: bool = True) -> Dict[str, np.ndarray]:
    """The ``.npz`` payload of one predicted sample (a ``SegDataSample`` or its dict)."""
    if isinstance(sample, BaseDataElement):
        sample = sample.to_dict()
    conf = score = modality = None
    if sample.get('pred_conf') is not None:
        conf = _array(sample['pred_conf']).squeeze(0)
    if sample.get('pred_score') is not None:
        score = float(_array(sample['pred_score']).reshape(-1)[0])
    if save_modality and sample.get('pred_modality') is not None:
        modality = (sample.get('modality_key', 'modality'),
                    _array(sample['pred_modality']).squeeze(0))
    return npz_payload(probability_map(sample), conf, score, modality)


def write_npz_atomic(path: str, arrays: Dict[str, np.ndarray]) -> None:
    """``np.savez`` to ``path`` through a temporary file and a rename."""
    with atomic_write(path) as f:
        np.savez(f, **arrays)
