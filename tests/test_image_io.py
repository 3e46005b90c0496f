import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from dp_plugin.apis import image_io
from bad_input_corpus import make_bad_input_corpus  # tools/bad_input_corpus.py
from dp_plugin.utils import atomic_io
from dp_plugin.apis.image_io import (ImageReadError, atomic_write, read_image, read_mask,
                                     remove_stale_temp_files)


@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('corpus'))
    return root, make_bad_input_corpus(root)


def _read(root, name, **kwargs):
    return read_image(osp.join(root, 'images', name), **kwargs)


def test_every_corpus_case_is_read_or_reported_in_one_line(corpus):
    root, expected = corpus
    assert len(expected) >= 20
    for name, exp in expected.items():
        if exp['outcome'] == 'ok':
            rgb, info = _read(root, name)
            assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3, name
            assert list(rgb.shape[:2]) == exp['shape'], name
            if 'note' in exp:
                assert any(exp['note'] in note for note in info.notes), (name, info.notes)
        else:
            with pytest.raises(ImageReadError) as info:
                _read(root, name)
            message = str(info.value)
            assert '\n' not in message
            assert name.split('/')[-1] in message, message
            assert exp['message'].lower() in message.lower(), message


def test_conversions_keep_pixel_values(corpus):
    root, _ = corpus
    reference, _ = _read(root, 'good_rgb.png')
    rgb16, info = _read(root, 'rgb16.png')
    np.testing.assert_array_equal(rgb16, reference)
    assert '16-bit samples reduced to 8 bits' in info.notes
    gray16, _ = _read(root, 'gray16.png')
    gray16_src = np.asarray(Image.open(osp.join(root, 'images', 'gray16.png')))
    np.testing.assert_array_equal(gray16[..., 0], np.rint(gray16_src / 257.0))
    assert (gray16[..., 0] == gray16[..., 2]).all()
    rgba, info = _read(root, 'rgba.png')
    np.testing.assert_array_equal(rgba, reference)  # alpha dropped, not composited
    assert 'alpha channel dropped' in info.notes
    gray, _ = _read(root, 'gray.png')
    np.testing.assert_array_equal(gray[..., 0], reference[..., 1])
    cmyk, _ = _read(root, 'cmyk.jpg')
    assert np.abs(cmyk.astype(int) - reference).mean() < 12
    palette, _ = _read(root, 'palette.png')
    assert np.abs(palette.astype(int) - reference).mean() < 12
    renamed, _ = _read(root, 'png_named_as.jpg')
    np.testing.assert_array_equal(renamed, reference)


def test_exif_orientation_is_applied(corpus):
    root, _ = corpus
    rotated, info = _read(root, 'exif_rotated.jpg')
    stored = np.asarray(Image.open(osp.join(root, 'images', 'exif_rotated.jpg')))
    assert stored.shape[:2] == (64, 96)
    np.testing.assert_array_equal(rotated, np.rot90(stored, k=-1))  # 6 = 90 deg clockwise
    assert info.notes == ['EXIF orientation 6 applied']


def test_limits_are_configurable(corpus):
    root, _ = corpus
    with pytest.raises(ImageReadError, match='exceeds the limit of 0.001 MPix'):
        _read(root, 'good_rgb.png', max_pixels=1000)
    tiny, _ = _read(root, 'tiny_16x16.png', min_size=0)
    assert tiny.shape == (16, 16, 3)


def test_unreadable_file_is_reported(corpus, monkeypatch):
    root, expected = corpus
    path = osp.join(root, 'images', 'no_read_permission.png')
    if os.geteuid() != 0:
        with pytest.raises(ImageReadError, match='permission denied'):
            read_image(path)
    assert expected['no_read_permission.png']['outcome'] == (
        'ok' if os.geteuid() == 0 else 'error')

    def denied(*args, **kwargs):  # what a non-root user gets for a chmod 000 file
        raise PermissionError(13, 'Permission denied', args[0])

    monkeypatch.setattr(image_io, 'open', denied, raising=False)
    with pytest.raises(ImageReadError, match='permission denied'):
        read_image(path)


def test_read_mask_refuses_a_wrong_size(corpus):
    root, _ = corpus
    mask = read_mask(osp.join(root, 'masks', 'good_rgb.png'), expected_hw=(64, 64))
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 1}
    assert mask[16:48, 16:48].all() and mask.sum() == 32 * 32
    with pytest.raises(ImageReadError, match='mask is 64x40 px but its image is 64x64 px'):
        read_mask(osp.join(root, 'masks', 'good.png'), expected_hw=(64, 64))


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / 'out.bin'
    with pytest.raises(RuntimeError):
        with atomic_write(str(target)) as fh:
            fh.write(b'half of it')
            raise RuntimeError('crash mid-write')
    assert os.listdir(tmp_path) == []
    with atomic_write(str(target)) as fh:
        fh.write(b'complete')
    with pytest.raises(RuntimeError):
        with atomic_write(str(target)) as fh:
            fh.write(b'new but broken')
            raise RuntimeError('crash mid-write')
    assert target.read_bytes() == b'complete'
    assert os.listdir(tmp_path) == ['out.bin']


def test_killed_writer_leaves_only_a_stale_temp_file_that_is_swept(tmp_path):
    target = tmp_path / 'out.npz'
    code = ('import importlib.util, os, sys\n'  # atomic_io alone: no torch/mmseg import
            'spec = importlib.util.spec_from_file_location("atomic_io", sys.argv[2])\n'
            'atomic_io = importlib.util.module_from_spec(spec)\n'
            'spec.loader.exec_module(atomic_io)\n'
            'with atomic_io.atomic_write(sys.argv[1]) as fh:\n'
            '    fh.write(b"partial"); fh.flush(); os._exit(9)\n')
    result = subprocess.run([sys.executable, '-c', code, str(target), atomic_io.__file__])
    assert result.returncode == 9
    assert not target.exists()
    leftovers = os.listdir(tmp_path)
    assert len(leftovers) == 1 and image_io.TEMP_MARKER in leftovers[0]
    assert remove_stale_temp_files(str(tmp_path)) == 1
    assert os.listdir(tmp_path) == []


def test_frames_corrupt_signatures_and_bad_orientation_are_named(corpus):
    """Issue 15 (minor): multi-frame files silently used frame 0; a recognisable but
    corrupt PNG was "not an image"; orientation 42 was reported as "applied"."""
    root, _ = corpus
    for name in ('multipage.tif', 'animated.gif'):
        first, info = _read(root, name)
        with Image.open(osp.join(root, 'images', name)) as img:
            assert img.n_frames == 3
            np.testing.assert_array_equal(first, np.asarray(img.convert('RGB')))
        assert any(n.startswith('frame 0 of 3 used') for n in info.notes), info.notes
    with pytest.raises(ImageReadError, match='corrupt PNG'):
        _read(root, 'corrupt_signature.png')
    rgb, info = _read(root, 'exif_orientation_42.jpg')
    assert rgb.shape == (64, 64, 3)
    assert info.notes == ['invalid EXIF orientation 42 ignored (valid: 1-8)']
