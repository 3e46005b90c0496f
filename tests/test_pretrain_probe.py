"""Linear probe: splits, in-domain / held-out / per-generator accuracy, CLI + JSON."""
import json
import os
import sys

import numpy as np
import pytest
import torch

from dp_plugin.modalities.dncnn import DnCNN
from dp_plugin.modalities.export_format import save_modality_export
from dp_plugin.pretrain.linear_probe import linear_probe, split_groups
from dp_plugin.pretrain.patch_index import load_patch_index
from pretrain_synth import make_patch_set

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'tools'))


@pytest.fixture(scope='module')
def probe_set(tmp_path_factory):
    return make_patch_set(str(tmp_path_factory.mktemp('probe')), n_real=3, n_gen=2, size=64,
                          generators=('simnn', 'simbl', 'simps'))


def test_probe_scores_by_split(probe_set):
    index = load_patch_index(probe_set)
    y = index.category.astype(float)
    rng = np.random.default_rng(0)
    # separable for training generators, label-independent noise for the held-out one
    feats = np.stack([np.where(index.generator == 'simps', rng.normal(size=y.size), 4 * y - 2),
                      rng.normal(size=y.size)], 1) + 0.1 * rng.normal(size=(y.size, 2))
    res = linear_probe(feats, index, train_generators=['simnn', 'simbl'], split_by='patch')
    assert res['in_domain'] == 1.0
    assert res['held_out'] is not None and res['held_out'] < 1.0
    assert set(res['per_generator']) == {'none', 'simnn', 'simbl', 'simps'}
    assert res['n_train'] + res['n_test'] == len(y)
    test = split_groups(index, 0.3, 0, 'image')
    stems = lambda m: {(c, g if c else '', s) for c, g, s in  # noqa: E731
                       zip(index.category[m], index.generator[m], index.image_stem[m])}
    assert not stems(test) & stems(~test)  # no image on both sides of the split


def test_probe_cli_writes_json(probe_set, tmp_path):
    import linear_probe as cli
    export = str(tmp_path / 'rand.safetensors')
    torch.manual_seed(0)
    save_modality_export(export, DnCNN(3, 8, depth=3, width=8).state_dict(), dict(
        modality='DiffusionPrint', pixel_divisor=255, input_highpass=None,
        architecture=dict(type='DnCNN', in_channels=3, out_channels=8, depth=3, width=8),
        generators=['simnn', 'simbl'], source_config='test'))
    out = str(tmp_path / 'probe.json')
    assert cli.main([export, probe_set, '--out', out]) == 0
    with open(out) as f:
        res = json.load(f)
    assert res['train_generators'] == ['simnn', 'simbl'] and 0.0 <= res['overall'] <= 1.0
    assert cli.main([export, str(tmp_path / 'nowhere')]) == 2
