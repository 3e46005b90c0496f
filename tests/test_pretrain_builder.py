"""Patch-pair builder: the paper's layout, hard-negative pool, K+1 views, grid, --jobs, resume."""
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
    real_mask[0:48, 0:48] = 255  # touches outside-grid cells (0..1, 0..1)
    gen_mask = np.zeros((128, 128), np.uint8)
    gen_mask[40:104, 20:120] = 255  # 64 x 100 box: 4 x 4 overlapping inside positions
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


def test_inside_grid_overlaps():
    assert patch_builder.overlapping_starts(40, 104, 4, 32, 128) == [40, 51, 61, 72]
    assert patch_builder.overlapping_starts(0, 33, 4, 32, 128) == [0, 1]  # rounding: kept once
    assert patch_builder.overlapping_starts(50, 60, 4, 32, 128) == [39]  # shorter than P


def test_pair_rules_on_hand_made_image(hand_made):
    """The paper's layout (§3.4, §4.1): 16 inside-mask positions per image (overlap
    allowed); a real image's inside positions give the pool its source patch (real) and
    K inpaintings (generated); the outside grid (adapted) gives K + 1 real positives."""
    root, imgs = hand_made
    out = str(root / 'out')
    summary = build_patches(str(root / 'manifest.jsonl'), out, BuildOptions(patch_size=P),
                            progress=False)
    rows = _rows(out)
    data = np.memmap(os.path.join(out, 'patches.dat'), np.uint8, 'r', shape=(len(rows), P, P, 3))
    by_path = {r['patch_path']: r for r in rows}
    assert [int(r['master_index']) for r in rows] == list(range(len(rows)))
    # real, outside grid: 16 cells, 4 touch the mask (skipped), 12 -> K + 1 = 3 views
    real_anchor = [r for r in rows if r['category'] == 'real' and r['has_positive'] == 'True']
    assert len(real_anchor) == 12 * 3
    r = by_path['real/r1/inp-simbl_r3c0']
    assert r['has_positive'] == 'True' and r['generator_model'] == 'none'
    assert set(r['positive_patch_paths'].split(';')) == {'real/r1/src_r3c0',
                                                         'real/r1/inp-simnn_r3c0'}
    np.testing.assert_array_equal(data[int(r['master_index'])], imgs['real_bl'][96:128, 0:32])
    assert 'real/r1/src_r1c1' not in by_path  # touches the mask
    # real, inside grid: 16 positions x (source + K inpaintings) in the pool, never positives
    pool = [r for r in rows if r['has_positive'] == 'False']
    starts = [0, 5, 11, 16]  # 4 overlapping starts over the 48 px mask box
    assert sorted(r['patch_path'] for r in pool) == sorted(
        f'real/r1/{v}_in_r{i}c{j}' for v in ('src', 'inp-simnn', 'inp-simbl')
        for i in range(4) for j in range(4))
    assert all(r['positive_patch_paths'] == 'none' for r in pool)
    src = by_path['real/r1/src_in_r2c3']
    assert (src['category'], src['generator_model']) == ('real', 'none')
    np.testing.assert_array_equal(data[int(src['master_index'])],
                                  imgs['real'][starts[2]:starts[2] + P, starts[3]:starts[3] + P])
    inp = by_path['real/r1/inp-simbl_in_r2c3']
    assert (inp['category'], inp['generator_model']) == ('generated', 'simbl')
    np.testing.assert_array_equal(data[int(inp['master_index'])],
                                  imgs['real_bl'][11:11 + P, 16:16 + P])
    positives = {p for r in rows for p in r['positive_patch_paths'].split(';')}
    assert not positives & {r['patch_path'] for r in pool}
    # generated: 4 x 4 overlapping grid over the mask box -> 16 (src, inp) pairs
    gen = [r for r in rows if r['patch_path'].startswith('simnn/g1/')]
    assert len(gen) == 16 * 2
    g = by_path['simnn/g1/inp-simnn_in_r1c3']
    assert g['positive_patch_paths'] == 'simnn/g1/src_in_r1c3' and g['category'] == 'generated'
    np.testing.assert_array_equal(data[int(g['master_index'])], imgs['gen_inp'][51:83, 88:120])
    assert summary['anchors'] == 36 + 32 and summary['pool'] == 48
    assert summary['by_category'] == dict(anchor=dict(real=36, generated=32),
                                          pool=dict(real=16, generated=32))
    with open(os.path.join(out, 'meta.json')) as f:
        assert json.load(f)['by_category'] == summary['by_category']
    # the dataset sees the same pairs
    ds = PatchPairDataset(out, generators=['simnn', 'simbl'])
    assert len(ds) == 68 and ds.max_positives == 2
    item = ds[0]
    assert item['views'].shape == (3, 3, P, P) and int(item['num_pos']) == 2
    assert int(item['neg_valid']) == 1
    assert sorted(set(ds.index.category[ds.pool].tolist())) == [0, 1]


def test_counts_follow_the_paper_formulas(tmp_path):
    """n generated images x 16 positions x 2 views per model; pool = n real x 16 x (K + 1);
    the same output with --jobs 2 as with --jobs 1."""
    from pretrain_synth import make_source_set
    manifest = make_source_set(str(tmp_path / 'src'), n_real=3, n_gen=2, size=64)
    one = build_patches(manifest, str(tmp_path / 'j1'), BuildOptions(patch_size=16),
                        progress=False, jobs=1)
    two = build_patches(manifest, str(tmp_path / 'j2'), BuildOptions(patch_size=16),
                        progress=False, jobs=2)
    for gen in ('simnn', 'simbl', 'simtc'):
        assert one['counts'][f'generated/{gen}']['anchor'] == 2 * 16 * 2
        assert one['expected']['generated_anchors_per_model'][gen] == 2 * 16 * 2
    assert one['by_category']['pool'] == dict(real=3 * 16, generated=3 * 16 * 3)
    assert one['pool'] == one['expected']['pool'] == 3 * 16 * 4
    assert 0 < one['by_category']['anchor']['real'] <= one['expected']['real_anchors_at_most']
    for name in ('patches.csv', 'patches.dat'):
        with open(tmp_path / 'j1' / name, 'rb') as a, open(tmp_path / 'j2' / name, 'rb') as b:
            assert a.read() == b.read(), name
    assert {k: v for k, v in one.items() if k != 'timing'} == \
        {k: v for k, v in two.items() if k != 'timing'}
    t = two['timing']
    assert t['jobs'] == 2 and t['images'] == 3 + 3 * 2 and t['images_per_s'] > 0
    assert t['projected_dragon_s'] > 0 and 0 < t['projected_dragon_idle_s']
    assert 'Dragon' in patch_builder.format_summary(two)


def test_authors_reader_reads_our_output_and_we_read_theirs(hand_made):
    """Their reader (dataset/dataset.py): ``master_index`` rows of an (N, 64, 64, 3) memmap
    sized from the file, ``has_positive`` parsed as a bool, ``category`` 'real' or else
    generated, positives ``;``-separated names of other rows (data.md); their rows may
    come in any order."""
    root, imgs = hand_made
    out = str(root / 'out')
    build_patches(str(root / 'manifest.jsonl'), out, BuildOptions(patch_size=64),
                  progress=False)
    rows = _rows(out)
    n = os.path.getsize(os.path.join(out, 'patches.dat')) // (64 * 64 * 3)
    data = np.memmap(os.path.join(out, 'patches.dat'), np.uint8, 'r', shape=(n, 64, 64, 3))
    index = {r['patch_path']: int(r['master_index']) for r in rows}
    for r in rows:
        assert r['has_positive'] in ('True', 'False') and r['generator_model']
        if r['has_positive'] == 'True':
            assert all(p in index for p in r['positive_patch_paths'].split(';'))
    assert data.shape[0] == len(rows)
    # their hard-negative pool (has_positive False) holds both of their categories
    # ('real', anything else generated), so sample_neg_batch draws authentic patches too
    pool_cats = {r['category'] == 'real' for r in rows if r['has_positive'] == 'False'}
    assert pool_cats == {True, False}
    # their way round: a CSV with shuffled rows (and a memmap in another order) loads
    theirs = root / 'theirs'
    theirs.mkdir()
    order = np.random.default_rng(0).permutation(len(rows))
    with open(theirs / 'patches.csv', 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for new, old in enumerate(order):
            w.writerow(dict(rows[old], master_index=len(rows) - 1 - new))
    np.asarray(data)[order][::-1].tofile(theirs / 'patches.dat')
    idx = load_patch_index(str(theirs))
    mm = idx.open_memmap()
    for i, old in enumerate(order):
        np.testing.assert_array_equal(mm[idx.master_index[i]], data[int(rows[old]['master_index'])])
    ds = PatchPairDataset(str(theirs), generators=['simnn', 'simbl'])
    assert len(ds) == sum(r['has_positive'] == 'True' for r in rows)


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
    assert summary['anchors'] == 36
    assert load_patch_index(str(root / 'out')).num_rows == 36 + 48


def test_manifest_errors_name_the_line(tmp_path):
    bad = tmp_path / 'm.jsonl'
    bad.write_text('{"image_id": "a", "category": "real"}\n')
    with pytest.raises(ValueError, match=r'm.jsonl:1: record lacks'):
        build_patches(str(bad), str(tmp_path / 'o'), progress=False)
