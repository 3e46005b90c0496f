"""Tests of the built-in regeneration simulator (dp_plugin.simulate)."""
import filecmp
import json
import os
import os.path as osp
import re

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from dp_plugin.simulate import (CLASS_LABELS, GENERATORS, PHOTO_SPLITS, TRAIN_GENERATORS, build_localization_set,
                                build_pretrain_set, generate, load_generator, make_mask, random_crop, regenerate)
from dp_plugin.simulate.inpaint import latent_mask
from dp_plugin.simulate.spectra import band_power, grid_patches, residual_features, to_gray
from dp_plugin.simulate.writers import single_thread

ALL = tuple(GENERATORS)


def _samples(n, size=128, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img, _ = random_crop(rng, size)
        out.append((img, make_mask(rng, size, 'segm' if i % 2 else 'random')))
    return out


@pytest.fixture(scope='module')
def regenerated():
    """6 real crops with masks, inpainted by every generator: {gen: [(src, mask, out)]}."""
    data = _samples(6)
    with single_thread():
        return {g: [(img, m, regenerate(img, m, g, seed=i)) for i, (img, m) in enumerate(data)] for g in ALL}


def test_generators_and_labels_follow_the_contract():
    assert TRAIN_GENERATORS == ('simnn', 'simbl', 'simtc')
    assert CLASS_LABELS == {'real': 0, 'simnn': 1, 'simbl': 2, 'simtc': 3}
    families = {g: load_generator(g)[2]['family'] for g in ALL}
    assert families == {'simnn': 'nearest', 'simbl': 'bilinear', 'simtc': 'transposed', 'simps': 'pixelshuffle'}
    ups = {g: [m for m in load_generator(g)[0].decoder.modules()
               if isinstance(m, (torch.nn.Upsample, torch.nn.ConvTranspose2d, torch.nn.PixelShuffle))] for g in ALL}
    assert all(len(v) == 2 for v in ups.values())  # two x2 up-samplings: latent stride 4
    assert all(m.mode == 'nearest' for m in ups['simnn']) and all(m.mode == 'bilinear' for m in ups['simbl'])
    assert all(isinstance(m, torch.nn.ConvTranspose2d) for m in ups['simtc'])
    assert all(isinstance(m, torch.nn.PixelShuffle) for m in ups['simps'])


@pytest.mark.parametrize('gen', ALL)
def test_outside_mask_is_regenerated_and_loses_high_frequencies(regenerated, gen):
    # Paper Fig. 3: authentic regions change and lose power in the band [0.2, 0.5].
    # Tolerance: mean band power after regeneration < 0.7 x before (measured 0.1-0.6).
    src, reg = [], []
    for img, m, out in regenerated[gen]:
        assert not np.array_equal(out[~m], img[~m])
        assert np.abs(out[~m].astype(int) - img[~m]).mean() > 1.0  # changed everywhere, not in a few pixels
        for y, x in grid_patches(img, m, 32, inside=False):
            src.append(to_gray(img[y:y + 32, x:x + 32]))
            reg.append(to_gray(out[y:y + 32, x:x + 32]))
    assert len(src) >= 20
    ratio = band_power(np.array(reg)).mean() / band_power(np.array(src)).mean()
    assert ratio < 0.7, ratio


@pytest.mark.parametrize('gen', ALL)
def test_inpainted_content_is_new(regenerated, gen):
    # Inside the mask the output is new content, not the source re-encoded: it differs from
    # the source by > 2x as much as the regenerated outside does, and from a plain
    # reconstruction (mask=None) by > 4/255 on average. Far from the mask (> 16 px) the
    # output equals the plain reconstruction exactly (one decoder pass, local convolutions).
    for i, (img, m, out) in enumerate(regenerated[gen]):
        with single_thread():  # same thread count as the fixture: bit-exact convolutions
            rec = regenerate(img, None, gen, seed=i)
            other = regenerate(img, m, gen, seed=i + 100)
        d_in = np.abs(out[m].astype(float) - img[m]).mean()
        d_out = np.abs(out[~m].astype(float) - img[~m]).mean()
        assert d_in > 2 * d_out, (d_in, d_out)
        assert np.abs(out[m].astype(float) - rec[m]).mean() > 4
        far = ~ndimage.binary_dilation(m, np.ones((3, 3), bool), iterations=16)
        np.testing.assert_array_equal(out[far], rec[far])
        assert np.abs(out[m].astype(float) - other[m]).mean() > 2  # a different seed, different content


@pytest.mark.parametrize('gen', ALL)
def test_inpainted_colour_follows_surround(regenerated, gen):
    # Tolerance: per channel, |mean(inside) - mean(8-px ring around the mask)| averaged over
    # the images <= 0.06 (in [0,1] units; measured 0.015-0.035), and the inside/ring ratio
    # of luminance standard deviations within [0.25, 2].
    diffs, ratios = [], []
    for img, m, out in regenerated[gen]:
        ring = ndimage.binary_dilation(m, iterations=8) & ~m
        o = out.astype(float) / 255
        diffs.append(np.abs(o[m].mean(0) - o[ring].mean(0)))
        g = to_gray(out)
        ratios.append(g[m].std() / max(g[ring].std(), 1e-6))
    assert np.mean(diffs, axis=0).max() <= 0.06, np.mean(diffs, axis=0)
    assert 0.25 <= np.median(ratios) <= 2, ratios


def test_generators_are_distinguishable_by_residual_statistics():
    # A nearest-centroid classifier on residual spectra of regenerated real crops
    # (held-out photos/crops for testing) must beat chance (0.25) clearly: >= 0.6.
    feats = {g: [] for g in ALL}
    with single_thread():
        for seed in (1, 2):  # 8 training crops, then 8 held-out crops
            for i, (img, _) in enumerate(_samples(8, seed=seed)):
                for g in ALL:
                    feats[g].append(residual_features(regenerate(img, None, g, seed=i)))
    x_tr = {g: np.array(v[:8]) for g, v in feats.items()}
    mu = {g: v.mean(0) for g, v in x_tr.items()}
    sd = np.concatenate(list(x_tr.values())).std(0) + 1e-6
    correct = total = 0
    for g in ALL:
        for f in feats[g][8:]:
            pred = min(ALL, key=lambda k: (((f - mu[k]) / sd) ** 2).sum())
            correct += pred == g
            total += 1
    acc = correct / total
    assert acc >= 0.6, acc


@single_thread()
def test_generated_images_are_new_and_seeded():
    for g in ALL:
        a, b = generate(g, 64, seed=1), generate(g, 64, seed=2)
        assert a.shape == (64, 64, 3) and a.dtype == np.uint8
        np.testing.assert_array_equal(a, generate(g, 64, seed=1))
        assert np.abs(a.astype(int) - b).mean() > 5
        assert a.std() > 5  # not a flat image


def test_masks_shapes_and_rectangle_bounds():
    rng = np.random.default_rng(0)
    for _ in range(20):
        r = make_mask(rng, 128, 'random')
        ys, xs = np.nonzero(r)
        h, w = np.ptp(ys) + 1, np.ptp(xs) + 1
        assert 64 <= h <= 76 and 64 <= w <= 76 and r.sum() == h * w
        b = make_mask(rng, 128, 'segm')
        assert 0.03 < b.mean() < 0.45 and ndimage.label(b)[1] == 1
    with pytest.raises(ValueError, match='mask kind'):
        make_mask(rng, 64, 'bbox')


def test_latent_mask_covers_every_masked_pixel():
    m = np.zeros((32, 32), bool)
    m[5, 9] = True
    lm = latent_mask(m)
    assert lm.shape == (8, 8) and lm.sum() == 1 and lm[1, 2]


def _files(root):
    return sorted(osp.relpath(osp.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def test_pretrain_set_layout_and_determinism(tmp_path):
    kw = dict(n_real=3, n_generated=2, size=64, progress=False)
    build_pretrain_set(str(tmp_path / 'a'), seed=5, **kw)
    build_pretrain_set(str(tmp_path / 'b'), seed=5, **kw)
    build_pretrain_set(str(tmp_path / 'c'), seed=6, **kw)
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    files = _files(a)
    assert files == _files(b)
    assert all(filecmp.cmp(osp.join(a, f), osp.join(b, f), shallow=False) for f in files)
    assert not filecmp.cmp(osp.join(a, 'real/r00000.png'), str(tmp_path / 'c/real/r00000.png'), shallow=False)
    recs = [json.loads(ln) for ln in open(osp.join(a, 'manifest.jsonl'))]
    assert len(recs) == 3 * 3 + 2 * 3
    keys = {'image_id', 'category', 'generator', 'source', 'inpainted', 'mask'}
    for r in recs:
        assert set(r) == keys and r['category'] in ('real', 'generated')
        for k in ('source', 'inpainted', 'mask'):
            assert osp.isfile(osp.join(a, r[k])), r[k]
        assert r['inpainted'] == f"inpainted/{r['generator']}/{r['image_id']}.png"
        m = np.asarray(Image.open(osp.join(a, r['mask'])))
        assert m.ndim == 2 and set(np.unique(m)) <= {0, 255} and m.any()
    real = [r for r in recs if r['category'] == 'real']
    for iid in {r['image_id'] for r in real}:
        group = [r for r in real if r['image_id'] == iid]
        assert sorted(r['generator'] for r in group) == sorted(TRAIN_GENERATORS)
        assert len({r['source'] for r in group}) == 1 and len({r['mask'] for r in group}) == 1
    gen = [r for r in recs if r['category'] == 'generated']
    assert all(r['source'] == f"generated/{r['generator']}/{r['image_id']}.png" for r in gen)
    assert len({r['image_id'] for r in gen}) == len(gen)
    meta = json.load(open(osp.join(a, 'meta.json')))
    assert meta['simulated'] is True and 'no Stable Diffusion' in meta['note']


def test_localization_set_layout_and_determinism(tmp_path):
    kw = dict(n_train=2, n_val=1, n_test=1, size=64, progress=False, seed=3)
    build_localization_set(str(tmp_path / 'a'), **kw)
    build_localization_set(str(tmp_path / 'b'), **kw)
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    files = _files(a)
    assert files == _files(b)
    assert all(filecmp.cmp(osp.join(a, f), osp.join(b, f), shallow=False) for f in files)
    pat = re.compile(r'^(original/(training|validation|testing)/\d{12}_orig_64\.png'
                     r'|masks/(training|validation|testing)/\d{12}_mask_(segm|random)_64\.png'
                     r'|(simnn|simbl|simtc|simps)-fr/(training|validation|testing)/\d{12}_mask_(segm|random)'
                     r'\.png_\5-64_0\.png|lists/\w+\.txt|meta\.json)$')
    assert all(pat.match(f) for f in files), [f for f in files if not pat.match(f)]
    assert len([f for f in files if '-fr/' in f]) == 4 * 2 * 4
    meta = json.load(open(osp.join(a, 'meta.json')))
    assert meta['simulated'] and meta['heldout_generators'] == ['simps']
    for iid, src in meta['sources'].items():  # split by source photo
        assert src['photo'] in PHOTO_SPLITS[src['split']]
    auth = open(osp.join(a, 'lists/training_auth.txt')).read().splitlines()
    assert len(auth) == 2 and all(ln.endswith(' None 0') and osp.isfile(osp.join(a, ln.split()[0])) for ln in auth)
    lines = open(osp.join(a, 'lists/testing_simps_random.txt')).read().splitlines()
    assert len(lines) == 1
    img, mask, label = lines[0].split(' ')
    assert label == '1' and osp.isfile(osp.join(a, img)) and osp.isfile(osp.join(a, mask))
    iid = osp.basename(mask)[:12]
    assert osp.basename(img).startswith(f'{iid}_mask_random.png_simps-64_')
    orig = np.asarray(Image.open(osp.join(a, f'original/testing/{iid}_orig_64.png')))
    fr = np.asarray(Image.open(osp.join(a, img)))
    assert orig.shape == fr.shape == (64, 64, 3) and not np.array_equal(orig, fr)


def test_bad_arguments_are_reported(tmp_path):
    with pytest.raises(ValueError, match='unknown simulated generator'):
        build_pretrain_set(str(tmp_path), n_real=1, n_generated=0, generators=['sd2'], progress=False)
    with pytest.raises(ValueError, match='multiple of 16'):
        build_localization_set(str(tmp_path), size=70, progress=False)
    with pytest.raises(ValueError, match='multiples of 4'):
        regenerate(np.zeros((30, 30, 3), np.uint8), None, 'simnn', 0)


def test_cli_writes_both_sets_and_refuses_to_overwrite(tmp_path, capsys):
    from dp_plugin.simulate.cli import main, run
    args = ['--out', str(tmp_path), '--size', '64', '--n-real', '1', '--n-generated', '1', '--n-train', '1',
            '--n-val', '1', '--n-test', '1', '--no-progress']
    summary = run(args)
    assert summary['pretrain']['records'] == 3 + 3 and summary['localization']['fr_images'] == 3 * 2 * 4
    assert 'SIMULATED' in capsys.readouterr().out
    with pytest.raises(SystemExit, match='already holds'):
        main(args)
    stale = tmp_path / 'localization' / 'lists' / 'stale.txt'
    stale.write_text('x')
    main(args + ['--overwrite', '--only', 'localization'])
    assert not stale.exists() and (tmp_path / 'localization' / 'meta.json').is_file()


def test_retraining_is_deterministic(tmp_path):
    from safetensors.torch import load_file

    from dp_plugin.simulate.training import train_generator
    kw = dict(steps=2, batch=2, crop=32, prior_crops=2, prior_size=64, log=None)
    train_generator('simps', str(tmp_path / 'a.safetensors'), **kw)
    train_generator('simps', str(tmp_path / 'b.safetensors'), **kw)
    ta, tb = load_file(str(tmp_path / 'a.safetensors')), load_file(str(tmp_path / 'b.safetensors'))
    assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)
