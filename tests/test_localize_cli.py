import csv
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from PIL import Image

from dp_plugin.apis import localize_cli
from bad_input_corpus import make_bad_input_corpus  # tools/bad_input_corpus.py
from dp_plugin.apis.image_io import TEMP_MARKER
from dp_plugin.apis.inference import Localizer, load_state_dict_safely, output_from_sample
from dp_plugin.apis.localize_cli import main
from dp_plugin.apis.localize_inputs import display_name
from dp_plugin.registry import MODELS
from _helpers import TINY_CONFIG as TINY_SEGMENTOR, save_random_model

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

TINY_CONFIG = TINY_SEGMENTOR + (  # + a pipeline that reads ground-truth masks
    "test_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),\n"
    "                 dict(type='PackSegInputs')]\n")


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """Tiny models run fastest (and predictably on a shared CPU) on one thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    """A tiny mmseg EncoderDecoder config and its plain state-dict checkpoint."""
    folder = tmp_path_factory.mktemp('model')
    config = folder / 'config.py'
    config.write_text(TINY_CONFIG)
    checkpoint = folder / 'model.pth'
    save_random_model(str(config), str(checkpoint))
    return str(config), str(checkpoint)


@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('corpus'))
    return root, make_bad_input_corpus(root)


def _run(tiny_model, *args):
    config, checkpoint = tiny_model
    return main([*map(str, args), '--config', config, '--checkpoint', checkpoint,
                 '--device', 'cpu'])


def _summary(out):
    with open(osp.join(out, 'summary.json')) as fh:
        return json.load(fh)


def _rows_by_rel(summary, images):
    """Rows by input path relative to ``images`` (names as the summary prints them)."""
    return {osp.relpath(r['input'], display_name(images)): r for r in summary['images']}


def test_corpus_run_processes_good_reports_bad_and_resumes(tiny_model, corpus, tmp_path):
    root, expected = corpus
    images, out = osp.join(root, 'images'), str(tmp_path / 'out')
    assert _run(tiny_model, images, '-o', out, '--masks', osp.join(root, 'masks')) == 1
    summary = _summary(out)
    rows = _rows_by_rel(summary, images)
    assert 'README.txt' not in rows
    assert rows['loop/back_to_images']['status'] == 'skipped'  # the folder loop
    for name, exp in expected.items():
        row = rows[display_name(name)]
        outputs = localize_cli.output_paths(out, name)
        if exp['outcome'] == 'ok':
            assert all(osp.isfile(p) for p in outputs.values()), name
            with np.load(outputs['npz']) as npz:
                assert list(npz['imgsize']) == exp['shape']
                assert npz['map'].shape == tuple(exp['shape'])
                assert npz['map'].dtype == np.float32
                assert 0 <= npz['map'].min() and npz['map'].max() <= 1
            mask = np.asarray(Image.open(outputs['mask']))
            assert set(np.unique(mask)) <= {0, 255}
            assert row['forged_fraction'] == pytest.approx((mask > 0).mean(), abs=1e-6)
            want = exp.get('mask_outcome', 'ok')
            assert row['status'] == want, (name, row)
            if want == 'error':
                assert exp['mask_message'] in row['error']
        else:
            assert row['status'] == 'error', name
            assert exp['message'].lower() in row['error'].lower(), row['error']
            assert not any(osp.exists(p) for p in outputs.values()), name
    assert rows['good_rgb.png']['f1'] is not None and 0 <= rows['good_rgb.png']['f1'] <= 1
    assert rows['good_rgb.png']['f1_best'] >= rows['good_rgb.png']['f1'] - 1e-9
    with open(osp.join(out, 'summary.csv'), newline='') as fh:
        assert len(list(csv.DictReader(fh))) == len(summary['images'])
    assert summary['counts']['error'] == sum(
        e['outcome'] == 'error' or e.get('mask_outcome') == 'error' for e in expected.values())

    # resume: finished outputs are skipped, untouched, and still summarised
    npz = localize_cli.output_paths(out, 'good_rgb.png')['npz']
    before = os.stat(npz).st_mtime_ns
    os.remove(localize_cli.output_paths(out, 'gray.png')['npz'])  # as if killed before it
    assert _run(tiny_model, images, '-o', out) == 1
    rows2 = _rows_by_rel(_summary(out), images)
    assert os.stat(npz).st_mtime_ns == before
    assert rows2['good_rgb.png']['status'] == 'skipped'
    assert rows2['good_rgb.png']['forged_fraction'] == rows['good_rgb.png']['forged_fraction']
    assert rows2['gray.png']['status'] == 'ok'
    assert [r for r in rows2.values() if r['status'] == 'ok'] == [rows2['gray.png']]
    assert _run(tiny_model, images, '-o', out, '--overwrite') == 1
    assert _rows_by_rel(_summary(out), images)['good_rgb.png']['status'] == 'ok'
    assert not [f for _, _, fs in os.walk(out) for f in fs if TEMP_MARKER in f]


def _good_folder(tmp_path, sizes=((64, 64), (48, 80))):
    folder = tmp_path / 'photos'
    (folder / 'sub').mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            folder / ('sub' if i % 2 else '.') / f'img{i}.png')
    return folder


def test_all_good_exits_zero_and_skips_its_own_output_folder(tiny_model, tmp_path):
    folder = _good_folder(tmp_path)
    out = folder / 'maps'  # inside the input folder: must not be read back as input
    for _ in range(2):
        assert _run(tiny_model, folder, '-o', out) == 0
    rows = _summary(out)['images']
    assert sorted(osp.relpath(r['output'], out) for r in rows) == ['img0.png',
                                                                  'sub/img1.png']
    assert [r['status'] for r in rows] == ['skipped', 'skipped']


def test_glob_and_missing_inputs(tiny_model, tmp_path):
    folder = _good_folder(tmp_path)
    out = tmp_path / 'out'
    status = _run(tiny_model, f'{folder}/**/*.png', tmp_path / 'missing.png', '-o', out)
    assert status == 1
    rows = _summary(out)['images']
    assert {r['status'] for r in rows} == {'ok', 'error'}
    assert [r['error'] for r in rows if r['status'] == 'error'] == ['no such file or folder']
    assert osp.isfile(out / 'sub' / 'img1.png.npz')  # relative to the glob's folder


def test_failed_overwrite_keeps_the_previous_output(tiny_model, tmp_path, monkeypatch):
    folder = _good_folder(tmp_path, sizes=((64, 64),))
    out = tmp_path / 'out'
    assert _run(tiny_model, folder, '-o', out) == 0
    npz = out / 'img0.png.npz'
    old = npz.read_bytes()

    def crash(fh, **arrays):  # dies half-way through writing the archive
        fh.write(b'PK\x03\x04 partial')
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(np, 'savez', crash)
    assert _run(tiny_model, folder, '-o', out, '--overwrite') == 1
    row = _summary(out)['images'][0]
    assert row['status'] == 'error' and 'No space left on device' in row['error']
    assert npz.read_bytes() == old
    assert sorted(os.listdir(out)) == ['img0.png.mask.png', 'img0.png.npz',
                                       'img0.png.overlay.png', 'summary.csv', 'summary.json']


def test_large_image_uses_the_sliding_window(tiny_model, monkeypatch):
    config, checkpoint = tiny_model
    localizer = Localizer(config, checkpoint, tile=64, tile_overlap=16)
    calls = []
    original = localizer.model.encode_decode

    def counting(inputs, metas):
        calls.append(tuple(inputs.shape[-2:]))
        return original(inputs, metas)

    monkeypatch.setattr(localizer.model, 'encode_decode', counting)
    rgb = np.random.default_rng(1).integers(0, 256, (150, 200, 3), dtype=np.uint8)
    result = localizer(rgb)
    assert result.map.shape == (150, 200) and result.conf is None and result.score is None
    assert len(calls) == 3 * 4 and max(calls) <= (64, 64)  # ceil((150-64)/48)+1 = 3 rows
    calls.clear()
    assert localizer(rgb[:64, :64].copy()).map.shape == (64, 64)
    assert calls == [(64, 64)]  # small image: one whole pass


def test_output_protocol_for_conf_and_score():
    sample = SegDataSample()
    sample.seg_logits = PixelData(data=torch.tensor([[[0.0, 2.0]], [[0.0, -2.0]]]))
    sample.pred_conf = PixelData(data=torch.tensor([[[0.25, 0.75]]]))
    sample.pred_score = torch.tensor([0.9])
    out = output_from_sample(sample)
    np.testing.assert_allclose(out.map, [[0.5, 1 / (1 + np.exp(4))]], rtol=1e-6)
    np.testing.assert_allclose(out.conf, [[0.25, 0.75]])
    assert out.score == pytest.approx(0.9)
    single = SegDataSample(metainfo=dict(score=0.3))
    single.seg_logits = PixelData(data=torch.tensor([[[0.2, 0.7]]]))  # mmseg: already sigmoid
    out = output_from_sample(single)
    np.testing.assert_allclose(out.map, [[0.2, 0.7]], rtol=1e-6)
    assert out.conf is None and out.score == pytest.approx(0.3)


def test_checkpoints_are_loaded_safely(tiny_model, tmp_path):
    config, checkpoint = tiny_model
    runner_style = tmp_path / 'runner.pth'
    state = torch.load(checkpoint, weights_only=True)
    torch.save({'state_dict': {'module.' + k: v for k, v in state.items()},
                'meta': {'iter': 3}}, runner_style)
    assert load_state_dict_safely(str(runner_style)).keys() == state.keys()
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': state, 'payload': Localizer}, evil)
    with pytest.raises(ValueError, match='weights_only=True'):
        load_state_dict_safely(str(evil))
    partial = tmp_path / 'partial.pth'
    torch.save({k: v for k, v in state.items() if not k.startswith('decode_head')}, partial)
    with pytest.raises(ValueError, match='missing keys'):
        Localizer(config, str(partial))


def test_console_script_reports_usage_errors(tmp_path):
    env = dict(os.environ, PYTHONPATH=REPO)
    image = tmp_path / 'a.png'
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(image)
    result = subprocess.run([sys.executable, osp.join(REPO, 'tools', 'localize.py'),
                             str(image), '-o', str(tmp_path / 'out')], cwd=tmp_path,
                            env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert 'models/lite_dp/config.py not found' in result.stderr
    assert 'make demo' in result.stderr


def test_lite_baseline_config_runs_end_to_end(tmp_path):
    """The project's own segmentor and test pipeline (forgery-annotation loader) work, and
    a modality weight file missing on this machine is taken from the full checkpoint."""
    config = osp.join(REPO, 'configs', 'lite_baseline',
                      'lite-baseline_mit-b0-tiny_diffusionprint_sim-128x128.py')
    if 'LiteBaseline' not in MODELS:
        pytest.skip('Lite Baseline not in this tree')
    cfg = Config.fromfile(config)
    cfg.model.modality.checkpoint = None
    init_default_scope('dp_plugin')
    torch.manual_seed(0)
    checkpoint = tmp_path / 'lite.pth'
    torch.save(MODELS.build(cfg.model).state_dict(), checkpoint)
    folder = _good_folder(tmp_path, sizes=((48, 40), (100, 150)))
    out = tmp_path / 'out'
    assert main([str(folder), '-o', str(out), '--config', config, '--checkpoint',
                 str(checkpoint), '--tile', '64', '--tile-overlap', '16',
                 '--no-overlay']) == 0
    summary = _summary(out)
    assert summary['model'] == 'LiteBaseline'
    with np.load(out / 'sub' / 'img1.png.npz') as npz:
        assert npz['map'].shape == (100, 150) and list(npz['imgsize']) == [100, 150]
