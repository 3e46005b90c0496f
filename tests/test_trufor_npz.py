"""Upstream-compatible .npz outputs of TruFor predictions."""
import numpy as np
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from dp_plugin.evaluation import TruForNpzHook, trufor_npz_arrays, write_npz_atomic


def _sample(with_heads=True, key='diffusionprint_l2'):
    s = SegDataSample()
    s.set_metainfo(dict(img_path='/data/set/sub/img.png', modality_key=key))
    logits = torch.zeros(2, 6, 5)
    logits[1, :3] = 4.0
    s.seg_logits = PixelData(data=logits)
    s.pred_modality = PixelData(data=torch.full((1, 6, 5), 2.0))
    if with_heads:
        s.pred_conf = PixelData(data=torch.full((1, 6, 5), 0.25))
        s.pred_score = torch.tensor([0.8])
    return s


def test_npz_keys_and_values(tmp_path):
    arrays = trufor_npz_arrays(_sample())
    assert set(arrays) == {'map', 'conf', 'score', 'imgsize', 'np++', 'modality_kind'}
    assert str(arrays['modality_kind']) == 'diffusionprint_l2'
    np.testing.assert_allclose(arrays['np++'], 2.0)
    assert arrays['map'].shape == (6, 5) and arrays['imgsize'].tolist() == [6, 5]
    np.testing.assert_allclose(arrays['map'][0, 0], 1 / (1 + np.exp(-4.0)), rtol=1e-5)
    np.testing.assert_allclose(arrays['map'][5, 0], 0.5)
    assert arrays['conf'].shape == (6, 5) and float(arrays['score']) == np.float32(0.8)
    phase2 = trufor_npz_arrays(_sample(with_heads=False, key='np++'), save_modality=True)
    assert set(phase2) == {'map', 'imgsize', 'conf', 'score', 'np++', 'modality_kind'}
    assert np.isnan(phase2['conf']).all() and np.isnan(phase2['score'])  # no heads
    assert phase2['conf'].shape == phase2['map'].shape
    path = tmp_path / 'out' / 'img.png.npz'
    write_npz_atomic(str(path), arrays)
    with np.load(path, allow_pickle=False) as f:
        assert set(f.files) == set(arrays)
        assert str(f['modality_kind']) == 'diffusionprint_l2'
        np.testing.assert_array_equal(f['map'], arrays['map'])
    assert [p.name for p in path.parent.iterdir()] == ['img.png.npz']


def test_hook_names_files_like_upstream(tmp_path):
    hook = TruForNpzHook(out_dir=str(tmp_path), root='/data/set')
    assert hook.target('/data/set/sub/img.png') == str(tmp_path / 'sub' / 'img.png.npz')
    assert hook.target('/elsewhere/x.jpg') == str(tmp_path / 'x.jpg.npz')
    hook.after_test_iter(None, 0, None, [_sample()])
    with np.load(tmp_path / 'sub' / 'img.png.npz') as f:
        assert {'map', 'conf', 'score', 'imgsize'} <= set(f.files)
