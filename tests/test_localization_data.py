import numpy as np
import pytest
from mmengine.dataset import Compose
from mmengine.registry import DefaultScope

import dp_plugin  # noqa: F401
from dp_plugin.datasets import ForgeryListDataset, TGIFDataset, parse_fr_name, parse_list_line
from dp_plugin.transforms import (FORGERY_META_KEYS, LoadForgeryAnnotation, RandomCropPad,
                                  RandomJPEGCompression, RandomRescale)
from tgif_fixture import make_tgif_fixture


@pytest.fixture(scope='module')
def tgif_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('tgif')
    make_tgif_fixture(str(root))
    return str(root)


def test_tgif_naming():
    fr = parse_fr_name('000000000139_mask_segm.png_sdxl-1024_2.png')
    assert fr == ('000000000139', 'segm', 'sdxl', 1024, 2)
    assert parse_fr_name('000000000139_mask_random.png_flux1schnell-1024_0.png').generator == 'flux1schnell'
    assert parse_fr_name('000000000139_orig_512.png') is None


def test_list_line_parsing():
    assert parse_list_line('a.png None 0', 'l.txt', 1) == ('a.png', None, 0)
    assert parse_list_line('a.png m.png 1', 'l.txt', 1) == ('a.png', 'm.png', 1)
    assert parse_list_line('  # comment', 'l.txt', 1) is None
    with pytest.raises(ValueError, match='l.txt:3'):
        parse_list_line('my image.png m.png 1 extra', 'l.txt', 3)
    with pytest.raises(ValueError, match='authentic'):
        parse_list_line('a.png m.png 0', 'l.txt', 1)


def test_tgif_dataset_selects_generators_mask_types_split(tgif_root):
    ds = TGIFDataset(data_root=tgif_root, split='test', generators=['simnn'],
                     mask_types='segm', lazy_init=False)
    kinds = sorted({(d['generator'], d['mask_type'], d['label']) for d in ds})
    assert kinds == [('authentic', 'none', 0), ('simnn', 'segm', 1)]
    assert len(ds) == 4
    forged = [d for d in ds if d['label'] == 1][0]
    assert '/testing/' in forged['img_path'] and forged['seg_map_path'].endswith('_mask_segm_32.png')
    assert ds.metainfo['classes'] == ('authentic', 'forged')
    full = TGIFDataset(data_root=tgif_root, split='training')
    assert len(full) == 2 + 2 * 2 * 2
    with pytest.raises(FileNotFoundError, match='simzz'):
        TGIFDataset(data_root=tgif_root, generators='simzz')


def test_list_dataset_matches_tgif_dataset(tgif_root):
    ds = ForgeryListDataset(data_root=tgif_root, ann_file=[
        'lists/validation_auth.txt', 'lists/validation_simbl_random.txt',
        dict(file='lists/validation_simnn_segm.txt', generator='nn', mask_type='sem')])
    got = sorted((d['generator'], d['mask_type'], d['label']) for d in ds)
    assert got == sorted([('authentic', 'none', 0)] * 2 + [('simbl', 'random', 1)] * 2
                         + [('nn', 'sem', 1)] * 2)
    tg = TGIFDataset(data_root=tgif_root, split='val', generators='simbl', mask_types='random')
    assert ({d['img_path'] for d in tg} <= {d['img_path'] for d in ds})
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        ForgeryListDataset(data_root=tgif_root, ann_file='lists/nope.txt')


def _pipeline(extra=()):
    return [dict(type='LoadImageFromFile'), dict(type='LoadForgeryAnnotation'), *extra,
            dict(type='PackSegInputs', meta_keys=FORGERY_META_KEYS)]


def test_load_annotation_binarises_and_authentic_zero(tgif_root):
    with DefaultScope.overwrite_default_scope('dp_plugin'):
        ds = TGIFDataset(data_root=tgif_root, split='test', generators='simnn',
                         pipeline=_pipeline())
    for i in range(len(ds)):
        out = ds[i]
        gt = out['data_samples'].gt_sem_seg.data
        meta = out['data_samples'].metainfo
        assert set(gt.unique().tolist()) <= {0, 1}
        assert meta['label'] == int(gt.any())
        assert meta['generator'] in ('simnn', 'authentic')


def test_forged_without_mask_is_ignored(tmp_path):
    img = np.zeros((8, 8, 3), np.uint8)
    res = LoadForgeryAnnotation()(dict(img=img, seg_map_path=None, label=1))
    assert (res['gt_seg_map'] == 255).all()


def test_transforms_deterministic_and_crop_pads_with_ignore():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
    gt = (rng.random((40, 50)) > 0.5).astype(np.uint8)
    chain = Compose([RandomRescale((0.5, 1.5)), RandomJPEGCompression((30, 100)), RandomCropPad(64)])

    def run(seed):
        np.random.seed(seed)
        return chain(dict(img=img.copy(), gt_seg_map=gt.copy(), seg_fields=['gt_seg_map']))

    a, b, c = run(3), run(3), run(4)
    assert np.array_equal(a['img'], b['img']) and a['jpeg_quality'] == b['jpeg_quality']
    assert a['rescale_ratio'] != c['rescale_ratio']
    for r in (a, c):
        assert r['img'].shape == (64, 64, 3) and r['gt_seg_map'].shape == (64, 64)
        h, w = (int(round(n * r['rescale_ratio'])) for n in (40, 50))
        assert h < 64 and (r['gt_seg_map'][h:] == 255).all()  # padding is ignored
        assert (r['gt_seg_map'][:, w:] == 255).all()
        assert set(np.unique(r['gt_seg_map'][:h, :w])) <= {0, 1}
        assert 30 <= r['jpeg_quality'] <= 100


def test_jpeg_changes_pixels_and_keeps_shape():
    img = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    np.random.seed(0)
    out = RandomJPEGCompression((30, 30))(dict(img=img.copy()))
    assert out['img'].shape == img.shape and out['jpeg_quality'] == 30
    assert np.abs(out['img'].astype(int) - img).mean() > 5
    with pytest.raises(ValueError):
        RandomJPEGCompression((0, 100))
