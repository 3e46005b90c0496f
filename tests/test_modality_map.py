"""tools/modality_map.py writes a picture of a modality map."""
import os.path as osp
import sys

import cv2
import numpy as np

sys.path.insert(0, osp.join(osp.dirname(__file__), '..', 'tools'))
import modality_map  # noqa: E402


def _image(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (24, 30, 3), dtype=np.uint8)
    path = str(tmp_path / 'in.png')
    cv2.imwrite(path, img)
    return path


def test_writes_pca_norm_and_grey_pictures(tmp_path):
    src = _image(tmp_path)
    cases = [(['--modality', 'DiffusionPrint', '--mode', 'pca'], (24, 30, 3)),
             (['--modality', 'SRM', '--mode', 'norm'], (24, 30, 3)),
             (['--modality', 'NoisePrintPP', '--with-input', '--tile-size', '16'], (24, 60, 3))]
    for i, (extra, shape) in enumerate(cases):
        out = str(tmp_path / 'maps' / f'{i}.png')
        assert modality_map.main([src, '--out', out] + extra) == 0
        pic = cv2.imread(out)
        assert pic.shape == shape and pic.std() > 0
    assert sorted(p.name for p in (tmp_path / 'maps').iterdir()) == ['0.png', '1.png', '2.png']


def test_pca_orders_components_by_variance():
    feats = np.zeros((5, 8, 8), np.float32)
    rng = np.random.default_rng(1)
    feats[0] = rng.normal(0, 10, (8, 8))
    feats[3] = rng.normal(0, 1, (8, 8))
    import torch
    comps = modality_map.pca3(torch.from_numpy(feats))
    assert comps[0].var() > comps[1].var() >= comps[2].var()
    assert torch.allclose(comps[0].abs(), torch.from_numpy(np.abs(feats[0] - feats[0].mean())),
                          atol=0.1)


def test_bad_input_is_reported(tmp_path, capsys):
    bad = tmp_path / 'bad.png'
    bad.write_bytes(b'not an image')
    assert modality_map.main([str(bad), '--out', str(tmp_path / 'o.png')]) == 1
    assert 'bad.png' in capsys.readouterr().err
    assert not (tmp_path / 'o.png').exists()
