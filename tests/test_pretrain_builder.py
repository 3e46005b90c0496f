"""Patch-pair builder: pair rules, hard-negative pool, K+1 views, grid, resume."""
import csv
import json
import os

import numpy as np
import pytest
from PIL import Image

from dp_plugin.pretrain import patch_builder
from dp_plugin.pretrain.patch_builder import BuildOptions, axis_starts, build_patches
from dp_plugin.pretrain.patch_index import load_patch_index
from dp_plugin.pretrain.patch_pair_dataset import PatchPairDataset

P = 32


def _img(path, arr):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(arr).save(path)


@pytest.fixture
def hand_made(tmp_path):
    """One real image (K = 2) and one generated image, 128 x 128, known masks."""
    rng = np.random.default_rng(0)
    imgs = {}
    for name in ('real', 'real_nn', 'real_bl', 'gen', 'gen_inp'):
        imgs[name] = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
        _img(str(tmp_path / f'{name}.png'), imgs[name])
    real_mask = np.zeros((128, 128), np.uint8)
    real_mask[0:64, 0:64] = 255  # covers grid cells (0..1, 0..1) fully
    real_mask[64:80, 64:70] = 255  # partial cover of cell (2, 2)
    gen_mask = np.zeros((128, 128), np.uint8)
    gen_mask[40:104, 20:120] = 255  # 64 x 100 bbox -> adapted 2 x 3 grid
    _img(str(tmp_path / 'real_mask.png'), real_mask)
    _img(str(tmp_path / 'gen_mask.png'), gen_mask)
    recs = [dict(image_id='r1', category='real', generator='simnn', source='real.png',
                 inpainted='real_nn.png', mask='real_mask.png'),
            dict(image_id='r1', category='real', generator='simbl', source='real.png',
                 inpainted='real_bl.png', mask='real_mask.png'),
            dict(image_id='g1', category='generated', generator='simnn', source='gen.png',
                 inpainted='gen_inp.png', mask='gen_mask.png')]
    (tmp_path / 'manifest.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in recs))
    return tmp_path, imgs


def _rows(out):
    with open(os.path.join(out, 'patches.csv'), newline='') as f:
        return list(csv.DictReader(f))


def test_grid_adaptation():
    assert axis_starts(0, 128, 4, 32, 128) == [0, 32, 64, 96]
    starts = axis_starts(0, 100, 4, 32, 128)  # 4 would be < 32 px apart -> 3
    assert len(starts) == 3 and min(np.diff(starts)) >= 32
    assert axis_starts(0, 64, 4, 64, 128) == [0]
    assert axis_starts(50, 60, 4, 32, 128) == [39]  # short region: one centred patch
    assert axis_starts(0, 20, 4, 32, 20) == []  # image smaller than a patch


def test_pair_rules_on_hand_made_image(hand_made):
    root, imgs = hand_made
    out = str(root / 'out')
    summary = build_patches(str(root / 'manifest.jsonl'), out, BuildOptions(patch_size=P),
                            progress=False)
    rows = _rows(out)
    data = np.memmap(os.path.join(out, 'patches.dat'), np.uint8, 'r', shape=(len(rows), P, P, 3))
    by_path = {r['patch_path']: r for r in rows}
    assert [int(r['master_index']) for r in rows] == list(range(len(rows)))
    # real: 16 cells; 4 inside (pool), 1 partial (skipped), 11 outside -> K + 1 = 3 views
    real_anchor = [r for r in rows if r['category'] == 'real']
    assert len(real_anchor) == 11 * 3
    r = by_path['real/r1/inp-simbl_r3c0']
    assert r['has_positive'] == 'True' and r['generator_model'] == 'none'
    assert set(r['positive_patch_paths'].split(';')) == {'real/r1/src_r3c0',
                                                         'real/r1/inp-simnn_r3c0'}
    np.testing.assert_array_equal(data[int(r['master_index'])], imgs['real_bl'][96:128, 0:32])
    assert 'real/r1/src_r2c2' not in by_path and 'real/r1/inp-simnn_r2c2' not in by_path
    # real inside the mask: the K inpainted patches are pool negatives, never positives
    pool = [r for r in rows if r['has_positive'] == 'False']
    assert sorted(r['patch_path'] for r in pool) == sorted(
        f'real/r1/inp-{g}_r{i}c{j}' for g in ('simnn', 'simbl') for i in (0, 1) for j in (0, 1))
    assert all(r['category'] == 'generated' and r['positive_patch_paths'] == 'none'
               for r in pool)
    assert {r['generator_model'] for r in pool} == {'simnn', 'simbl'}
    positives = {p for r in rows for p in r['positive_patch_paths'].split(';')}
    assert not positives & {r['patch_path'] for r in pool}
    # generated: 2 x 3 grid over the mask bbox, every cell inside -> (src, inp) pairs
    gen = [r for r in rows if r['patch_path'].startswith('simnn/g1/')]
    assert len(gen) == 2 * 3 * 2
    g = by_path['simnn/g1/inp-simnn_r1c2']
    assert g['positive_patch_paths'] == 'simnn/g1/src_r1c2' and g['category'] == 'generated'
    np.testing.assert_array_equal(data[int(g['master_index'])], imgs['gen_inp'][72:104, 88:120])
    assert summary['anchors'] == 33 + 12 and summary['pool'] == 8
    # the dataset sees the same pairs
    ds = PatchPairDataset(out, generators=['simnn', 'simbl'])
    assert len(ds) == 45 and ds.max_positives == 2
    item = ds[0]
    assert item['views'].shape == (3, 3, P, P) and int(item['num_pos']) == 2
    assert int(item['neg_category']) == 1 and int(item['neg_valid']) == 1


def test_resume_has_no_duplicate_rows(hand_made, monkeypatch):
    root, _ = hand_made
    manifest = str(root / 'manifest.jsonl')
    ref = str(root / 'ref')
    build_patches(manifest, ref, BuildOptions(patch_size=P), progress=False)
    out = str(root / 'out')
    real_extract = patch_builder.extract_group
    calls = []

    def dying(group, opts):
        calls.append(group.key)
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed while building the second image
        return real_extract(group, opts)

    monkeypatch.setattr(patch_builder, 'extract_group', dying)
    with pytest.raises(KeyboardInterrupt):
        build_patches(manifest, out, BuildOptions(patch_size=P), commit_every=1, progress=False)
    monkeypatch.setattr(patch_builder, 'extract_group', real_extract)
    with open(os.path.join(out, 'patches.csv'), 'a') as f:  # junk written after the commit
        f.write('junk,0,x,real,none,True,none\n')
    build_patches(manifest, out, BuildOptions(patch_size=P), progress=False)
    assert _rows(out) == _rows(ref)
    with open(os.path.join(out, 'patches.dat'), 'rb') as a, \
            open(os.path.join(ref, 'patches.dat'), 'rb') as b:
        assert a.read() == b.read()
    with pytest.raises(ValueError, match='other options'):
        build_patches(manifest, out, BuildOptions(patch_size=16), progress=False)


def test_bad_item_is_reported_and_skipped(hand_made):
    root, _ = hand_made
    os.remove(root / 'gen_inp.png')
    summary = build_patches(str(root / 'manifest.jsonl'), str(root / 'out'),
                            BuildOptions(patch_size=P), progress=False)
    assert len(summary['bad_items']) == 1 and 'simnn/g1' in summary['bad_items'][0]
    assert summary['anchors'] == 33
    assert load_patch_index(str(root / 'out')).num_rows == 33 + 8


def test_manifest_errors_name_the_line(tmp_path):
    bad = tmp_path / 'm.jsonl'
    bad.write_text('{"image_id": "a", "category": "real"}\n')
    with pytest.raises(ValueError, match=r'm.jsonl:1: record lacks'):
        build_patches(str(bad), str(tmp_path / 'o'), progress=False)
