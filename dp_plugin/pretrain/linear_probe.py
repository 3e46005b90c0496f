"""Linear probing of frozen DiffusionPrint embeddings (paper §4.1 protocol)."""
import json
from typing import Dict, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file

from dp_plugin.modalities.dncnn import DnCNN
from dp_plugin.modalities.export_format import read_export_metadata
from dp_plugin.modalities.high_pass import FFTHighPass
from .patch_index import PatchIndex


def load_frozen_encoder(path: str, random_init: bool = False, seed: int = 0) -> nn.Module:
    """A frozen DnCNN (+ its input high-pass) from an export or a pretraining checkpoint.

    ``random_init`` keeps the architecture but not the weights (seeded default
    initialisation): the chance-level reference of a probe.
    """
    if path.endswith('.safetensors'):
        meta = read_export_metadata(path)
        arch = {k: v for k, v in meta['architecture'].items() if k != 'type'}
        state = load_file(path)
        highpass = meta.get('input_highpass')
    else:
        from .export import dncnn_architecture, encoder_from_checkpoint
        state, cfg, _ = encoder_from_checkpoint(path)
        arch = {k: v for k, v in dncnn_architecture(state).items() if k != 'type'}
        highpass = cfg.get('model', {}).get('input_highpass') if cfg is not None else None
    if random_init:
        torch.manual_seed(seed)
    dncnn = DnCNN(**arch)
    if not random_init:
        dncnn.load_state_dict(state, strict=True)
    layers = [FFTHighPass(highpass)] if highpass else []
    return nn.Sequential(*layers, dncnn).eval().requires_grad_(False)


@torch.no_grad()
def embed_patches(encoder: nn.Module, index: PatchIndex, batch_size: int = 256,
                  pooling: str = 'gap', progress: bool = True) -> np.ndarray:
    """``(R, C)`` GAP (or ``'flatten'``) embeddings of every CSV row, in CSV order."""
    data = index.open_memmap()
    rows = index.master_index
    out = []
    it = range(0, len(rows), batch_size)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, desc='embed', unit='batch')
    for s in it:
        x = torch.from_numpy(np.asarray(data[rows[s:s + batch_size]])).permute(0, 3, 1, 2)
        f = encoder(x.float() / 255.0)
        out.append((f.mean(dim=(2, 3)) if pooling == 'gap' else f.flatten(1)).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def split_groups(index: PatchIndex, test_frac: float, seed: int, by: str) -> np.ndarray:
    """Boolean test mask: a random ``test_frac`` of images (``by='image'``) or patches."""
    rng = np.random.default_rng(seed)
    if by == 'patch':
        return rng.random(len(index.category)) < test_frac
    keys = np.array([f'{c}/{g}/{s}' if c else f'real/{s}' for c, g, s in
                     zip(index.category, index.generator, index.image_stem)])
    uniq = np.unique(keys)
    test_keys = set(uniq[rng.permutation(len(uniq))[:max(1, round(test_frac * len(uniq)))]])
    return np.array([k in test_keys for k in keys])


def linear_probe(feats: np.ndarray, index: PatchIndex, train_generators: Sequence[str],
                 test_frac: float = 0.3, seed: int = 0, split_by: str = 'image',
                 max_iter: int = 2000) -> Dict[str, object]:
    """Fit real-vs-generated logistic regression on 70 % and score the other 30 %.

    Returns overall, in-domain (real + ``train_generators``), held-out (other
    generators) and per-generator accuracy, with counts and the majority baseline.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    y = index.category.astype(int)
    test = split_groups(index, test_frac, seed, split_by)
    if len(np.unique(y[~test])) < 2:
        raise ValueError('the probe needs real and generated patches in the training split')
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    clf.fit(feats[~test], y[~test])
    pred = clf.predict(feats[test])
    yt, gens = y[test], index.generator[test]
    correct = pred == yt
    known = set(train_generators)
    in_domain = (yt == 0) | np.isin(gens, list(known))
    held_out = (yt == 1) & ~np.isin(gens, list(known))

    def acc(mask) -> Optional[float]:
        return float(correct[mask].mean()) if mask.any() else None

    per = {g: dict(accuracy=acc(gens == g), n=int((gens == g).sum()))
           for g in sorted(set(gens.tolist()))}
    return dict(overall=acc(np.ones_like(correct)), in_domain=acc(in_domain),
                held_out=acc(held_out), per_generator=per, n_train=int((~test).sum()),
                n_test=int(test.sum()), majority_baseline=float(max(yt.mean(), 1 - yt.mean())),
                train_generators=list(train_generators), split_by=split_by, seed=seed)


def format_probe(result: Dict[str, object]) -> str:
    def pct(v):
        return '   n/a' if v is None else f'{100 * v:6.2f}'
    lines = [f'{"split":<22}{"acc %":>8}{"n":>8}',
             f'{"overall":<22}{pct(result["overall"]):>8}{result["n_test"]:>8}',
             f'{"in-domain":<22}{pct(result["in_domain"]):>8}',
             f'{"held-out generators":<22}{pct(result["held_out"]):>8}',
             f'{"majority baseline":<22}{pct(result["majority_baseline"]):>8}']
    for g, v in result['per_generator'].items():
        name = 'real' if g == 'none' else g
        lines.append(f'  {name:<20}{pct(v["accuracy"]):>8}{v["n"]:>8}')
    return '\n'.join(lines)


def save_json(path: str, obj: dict) -> None:
    import os
    import tempfile
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-', suffix='.json')
    with os.fdopen(fd, 'w') as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)
