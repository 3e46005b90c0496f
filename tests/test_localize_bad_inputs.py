"""dp-localize under hostile and careless use (issue 15 items 1-8, 11, 12, 14; issue 12
items 6-7; issue 13 item 5): one regression test per item, each failing on the code
before the fix."""
import json
import os
import os.path as osp
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

from dp_plugin.apis import localize_cli
from dp_plugin.apis.localize_cli import main
from dp_plugin.utils import atomic_io
from dp_plugin.utils.atomic_io import TEMP_MARKER, atomic_write, remove_stale_temp_files
from test_localize_cli import one_thread, tiny_model  # noqa: F401  (shared fixtures)

#: The simulator's first training generator (the TGIF ``{gen}`` of the test layout).
GEN = 'simnn'

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
ATOMIC_IO = atomic_io.__file__


@pytest.fixture(scope='module')
def models(tiny_model):
    """The tests' tiny model, another checkpoint of it and one with NaN weights."""
    config, checkpoint = tiny_model
    folder = osp.dirname(checkpoint)
    state = torch.load(checkpoint, weights_only=True)
    torch.manual_seed(1)
    torch.save({k: v + 0.1 * torch.randn_like(v) if v.is_floating_point() else v
                for k, v in state.items()}, osp.join(folder, 'other.pth'))
    nan_state = {k: v.clone() for k, v in state.items()}
    nan_state['decode_head.conv_seg.weight'].fill_(float('nan'))
    torch.save(nan_state, osp.join(folder, 'nan.pth'))
    return dict(config=config, checkpoint=checkpoint, other=osp.join(folder, 'other.pth'),
                nan=osp.join(folder, 'nan.pth'))


def _run(model, *args, checkpoint=None):
    return main([*map(str, args), '--config', model['config'], '--checkpoint',
                 checkpoint or model['checkpoint'], '--device', 'cpu'])


def _summary(out):
    with open(osp.join(str(out), 'summary.json')) as fh:
        return json.load(fh)


def _images(folder, names=('a.png', 'b.png'), size=(48, 64), seed=0):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    for name in names:
        path = osp.join(str(folder), name) if isinstance(name, str) else \
            osp.join(os.fsencode(str(folder)), name)
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(
            path, format='PNG')
    return folder


def _files(folder):
    return sorted(osp.relpath(osp.join(r, f), str(folder))
                  for r, _, fs in os.walk(str(folder)) for f in fs)


# ---------------------------------------------------------------- 15.1 concurrent runs
_HOLDING_WRITER = '''
import importlib.util, sys
spec = importlib.util.spec_from_file_location("atomic_io", sys.argv[2])
atomic_io = importlib.util.module_from_spec(spec)
spec.loader.exec_module(atomic_io)
with atomic_io.atomic_write(sys.argv[1]) as fh:
    fh.write(b"first half ")
    print("writing", flush=True)
    sys.stdin.readline()  # the other run sweeps the folder meanwhile
    fh.write(b"second half")
'''


def test_sweep_keeps_temp_files_of_live_writers(tmp_path):
    """Issue 15.1: ``_pid_alive`` returned None for a live process, so the temp file of
    every other running writer counted as stale."""
    child = subprocess.Popen([sys.executable, '-c', 'import sys; sys.stdin.read()'],
                             stdin=subprocess.PIPE)
    try:
        live = tmp_path / f'.x.npz{TEMP_MARKER}{child.pid}-abcdefgh'
        live.write_bytes(b'in progress')
        assert remove_stale_temp_files(str(tmp_path)) == 0
        assert live.exists()
    finally:
        child.communicate(b'')
    assert remove_stale_temp_files(str(tmp_path)) == 1  # its writer is gone now
    assert not live.exists()


def test_two_concurrent_runs_on_one_folder_both_finish_intact(models, tmp_path):
    """Issue 15.1 "done when": two real ``dp-localize`` processes on one output folder
    both finish with every output intact, and neither sweeps the temporary file of a
    third process that is in the middle of a write there (on the old code both did, and
    that write failed with FileNotFoundError)."""
    images = _images(tmp_path / 'in', names=[f'{i}.png' for i in range(4)])
    out = tmp_path / 'out'
    out.mkdir()
    held = out / 'held.npz'
    writer = subprocess.Popen([sys.executable, '-c', _HOLDING_WRITER, str(held), ATOMIC_IO],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == 'writing'
        cmd = [sys.executable, osp.join(REPO, 'tools', 'localize.py'), str(images), '-o',
               str(out), '--config', models['config'], '--checkpoint',
               models['checkpoint'], '--device', 'cpu', '--threads', '1', '--overwrite']
        env = dict(os.environ, PYTHONPATH=REPO, PYTHONWARNINGS='ignore')
        runs = [subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
                for _ in range(2)]
        results = [(p.wait(timeout=600), p.stderr.read()) for p in runs]
        writer.communicate('\n', timeout=60)
    finally:
        if writer.poll() is None:
            writer.kill()
    for rc, err in results:
        assert rc == 0, err
    assert writer.returncode == 0
    assert held.read_bytes() == b'first half second half'
    for i in range(4):
        with np.load(out / f'{i}.png.npz') as npz:
            assert npz['map'].shape == (48, 64)
        assert np.asarray(Image.open(out / f'{i}.png.mask.png')).shape == (48, 64)
        Image.open(out / f'{i}.png.overlay.png').verify()
    assert not [f for f in _files(out) if TEMP_MARKER in f]
    assert _summary(out)['counts'] == {'ok': 4, 'skipped': 0, 'error': 0}


# ---------------------------------------------------------------- 15.2 NaN maps
def test_nan_maps_are_reported_per_image_and_the_summary_is_written(models, tmp_path):
    """Issue 15.2: NaN maps were reported ok, then ``json.dump(allow_nan=False)`` raised
    in the summary write: no summary.json/csv, on every rerun."""
    images = _images(tmp_path / 'in')
    out = tmp_path / 'out'
    for _ in range(2):
        assert _run(models, images, '-o', out, checkpoint=models['nan']) == 1
        rows = _summary(out)['images']
        assert [r['status'] for r in rows] == ['error', 'error']
        assert all('non-finite' in r['error'] for r in rows)
        assert (out / 'summary.csv').read_text().count('non-finite') == 2
    assert _files(out) == ['summary.csv', 'summary.json']  # no NaN map stored as a result


# ---------------------------------------------------------------- 15.3 non-UTF-8 names
def test_non_utf8_file_name_is_processed_and_reported(models, tmp_path):
    """Issue 15.3: a name that is not valid UTF-8 failed its image, then the CSV writer
    raised: no summary for the whole batch."""
    images = _images(tmp_path / 'in', names=('good.png', b'caf\xe9.png'))
    out = tmp_path / 'out'
    assert _run(models, images, '-o', out) == 0
    rows = _summary(out)['images']
    assert sorted(r['status'] for r in rows) == ['ok', 'ok']
    assert any(r['input'].endswith('caf\\xe9.png') for r in rows)
    assert 'caf\\xe9.png' in (out / 'summary.csv').read_text(encoding='utf-8')
    for suffix in (b'.npz', b'.mask.png', b'.overlay.png'):
        assert osp.isfile(osp.join(os.fsencode(str(out)), b'caf\xe9.png' + suffix))


# ---------------------------------------------------------------- 15.4 stale outputs
def test_outputs_of_another_model_threshold_or_input_are_recomputed(models, tmp_path):
    """Issue 15.4: the skip-if-done check ignored model, threshold and image: a rerun
    with another checkpoint "skipped" everything."""
    images = _images(tmp_path / 'in', names=('a.png',))
    out = tmp_path / 'out'

    def status(*extra, checkpoint=None):
        _run(models, images, '-o', out, *extra, checkpoint=checkpoint)
        return _summary(out)['images'][0]['status']

    assert status() == 'ok'
    assert status() == 'skipped'
    assert status(checkpoint=models['other']) == 'ok'
    with np.load(out / 'a.png.npz') as npz:
        record = json.loads(str(npz['dp_provenance']))
    assert record['checkpoint_sha256'] == localize_cli.file_sha256(models['other'])
    assert status('--threshold', '0.3', checkpoint=models['other']) == 'ok'
    assert status('--threshold', '0.3', checkpoint=models['other']) == 'skipped'
    _images(images, names=('a.png',), seed=5)  # same name, new content
    assert status('--threshold', '0.3', checkpoint=models['other']) == 'ok'
    # bf16 maps differ from fp32 ones (docs/modalities.md): another precision recomputes
    assert status('--threshold', '0.3', '--precision', 'bf16',
                  checkpoint=models['other']) == 'ok'
    assert status('--threshold', '0.3', '--precision', 'bf16',
                  checkpoint=models['other']) == 'skipped'


def test_foreign_npz_is_not_accepted_as_done(models, tmp_path):
    """Issue 15.4: a foreign 3x3 ``.npz`` (plus mask and figure) was accepted for a
    larger image."""
    images = _images(tmp_path / 'in', names=('a.png',), size=(64, 64))
    out = tmp_path / 'out'
    out.mkdir()
    np.savez(out / 'a.png.npz', map=np.zeros((3, 3), np.float32), imgsize=np.array([3, 3]))
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(out / 'a.png.mask.png')
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(out / 'a.png.overlay.png')
    assert _run(models, images, '-o', out) == 0
    assert _summary(out)['images'][0]['status'] == 'ok'
    with np.load(out / 'a.png.npz') as npz:
        assert npz['map'].shape == (64, 64)


# ---------------------------------------------------------------- 15.5-15.7 discovery
def test_output_folder_equal_to_the_input_folder_is_not_read_back(models, tmp_path):
    """Issue 15.5: ``-o`` equal to an input folder fed the outputs back (2 -> 6 -> 14)."""
    folder = _images(tmp_path / 'photos')
    for _ in range(3):
        assert _run(models, folder, '-o', folder) == 0
        assert len(_summary(folder)['images']) == 2
    assert _run(models, f'{folder}/*.png', '-o', folder) == 0
    assert len(_summary(folder)['images']) == 2


def test_outputs_never_leave_the_output_folder(models, tmp_path, monkeypatch):
    """Issue 15.6: ``in/*/../../victim.png`` wrote outputs outside ``-o``."""
    monkeypatch.chdir(tmp_path)
    _images(tmp_path / 'in' / 'sub')
    _images(tmp_path, names=('victim.png',))
    before = set(os.listdir(tmp_path))
    assert _run(models, 'in/*/../../victim.png', 'in/sub', '-o', 'maps/out') == 0
    assert set(os.listdir(tmp_path)) == before | {'maps'}
    real_out = osp.realpath('maps/out')
    for row in _summary('maps/out')['images']:
        assert osp.realpath(row['output']).startswith(real_out + os.sep)


def test_a_glob_matching_nothing_adds_no_root(models, tmp_path):
    """Issue 15.7: a glob matching nothing still added a root, moving every other output
    one level down."""
    folder = _images(tmp_path / 'data' / 'photos')
    out = tmp_path / 'out'
    assert _run(models, folder, str(tmp_path / 'data' / 'none' / '*.jpg'), '-o', out) == 1
    assert osp.isfile(out / 'a.png.npz') and osp.isfile(out / 'b.png.npz')


# ---------------------------------------------------------------- 15.8 / 12.6 masks
def test_missing_mask_source_is_a_usage_error(models, tmp_path, capsys):
    """Issue 15.8: ``--masks /nonexistent`` gave rc 0, no F1 and no warning."""
    images = _images(tmp_path / 'in')
    status = _run(models, images, '-o', tmp_path / 'out', '--masks', tmp_path / 'nowhere')
    assert status == 2
    assert 'no such folder or list file' in capsys.readouterr().err
    assert not (tmp_path / 'out' / 'a.png.npz').exists()  # refused before any work


def _tgif_tree(root, size=64):
    """``dp-simulate``'s localization set (TGIF/TGIF2 FR layout, lists in ``lists/``):
    testing split of 2 sources x 2 mask types, one generator; one mask removed."""
    from dp_plugin.simulate.writers import TRAIN_GENERATORS, build_localization_set
    build_localization_set(str(root), n_train=0, n_val=0, n_test=2, size=size,
                           generators=TRAIN_GENERATORS[:1], progress=False)
    assert TRAIN_GENERATORS[0] == GEN
    os.remove(osp.join(str(root), 'masks', 'testing', f'000000000002_mask_random_{size}.png'))
    return root


def test_tgif_masks_folder_and_lists_give_per_group_f1(models, tmp_path, capsys):
    """Issue 12.6: ``--masks`` silently matched nothing on the TGIF layout. The FR image
    ``{id}_mask_{type}.png_{gen}-{S}_{var}.png`` has the cropped mask
    ``{id}_mask_{type}_{S}.png`` (data.md 2d); originals need no mask."""
    root = str(_tgif_tree(tmp_path / 'tgif'))
    out = tmp_path / 'out'
    fr_dir, orig_dir = osp.join(root, f'{GEN}-fr'), osp.join(root, 'original', 'testing')
    assert _run(models, fr_dir, orig_dir, '-o', out,
                '--masks', osp.join(root, 'masks'), '--no-overlay') == 0
    err = capsys.readouterr().err
    assert 'WARNING --masks: 3 of 4 masks found (2 authentic images need none)' in err
    assert f'{GEN} ' in err and 'segm' in err  # the per-group table
    summary = _summary(out)
    rows = {osp.basename(r['input']): r for r in summary['images']}
    fr = rows[f'000000000001_mask_segm.png_{GEN}-64_0.png']
    assert fr['mask'].endswith('masks/testing/000000000001_mask_segm_64.png')
    assert (fr['generator'], fr['mask_type'], fr['label']) == (GEN, 'segm', 1)
    assert fr['f1'] is not None
    assert rows['000000000001_orig_64.png']['label'] == 0
    groups = {(g['generator'], g['mask_type']): g for g in summary['groups']}
    assert groups[(GEN, 'segm')]['n'] == 2 and groups[(GEN, 'random')]['n'] == 1
    assert groups[('all', 'all')]['n'] == 3

    lists = [osp.join(root, 'lists', n) for n in ('testing_auth.txt', f'testing_{GEN}_segm.txt',
                                                  f'testing_{GEN}_random.txt')]
    out2 = tmp_path / 'out2'
    assert _run(models, fr_dir, orig_dir, '-o', out2, '--no-overlay', '--masks', *lists) == 0
    by_list = {(g['generator'], g['mask_type']): g for g in _summary(out2)['groups']}
    assert by_list == groups


def test_per_group_f1_equals_the_metric_of_tools_test(models, tmp_path):
    """Issue 12.6: the per-group mean F1 is the project's metric on the same maps
    (``ForgeryLocalizationMetric``, which ``tools/test.py`` runs)."""
    from dp_plugin.evaluation import ForgeryLocalizationMetric
    root = str(_tgif_tree(tmp_path / 'tgif'))
    out = tmp_path / 'out'
    _run(models, osp.join(root, f'{GEN}-fr'), '-o', out, '--no-overlay', '--threshold',
         '0.5', '--masks', osp.join(root, 'masks'))
    summary = _summary(out)
    metric = ForgeryLocalizationMetric(threshold=0.5)
    for row in summary['images']:
        if not row.get('mask'):
            continue
        with np.load(osp.join(out, osp.relpath(row['input'], osp.join(root, f'{GEN}-fr'))
                              + '.npz')) as npz:
            prob = npz['map']
        gt = (np.asarray(Image.open(row['mask'])) > 0).astype(np.int64)
        metric.process({}, [dict(seg_logits=dict(data=torch.from_numpy(prob)[None]),
                                 gt_sem_seg=dict(data=torch.from_numpy(gt)[None]),
                                 generator=row['generator'], mask_type=row['mask_type'],
                                 label=1, img_path=row['input'])])
    expected = metric.compute_metrics(metric.results)
    for group in summary['groups']:
        name = 'f1' if group['generator'] == group['mask_type'] == 'all' else \
            f'{group["generator"]}/{group["mask_type"]}/f1'
        assert round(100 * group['f1'], 2) == pytest.approx(expected[name], abs=1e-9), name


def test_overlay_shows_the_ground_truth_beside_the_map(models, tmp_path):
    """Issue 12.6: with a known mask the figure gets a ground-truth panel."""
    root = str(_tgif_tree(tmp_path / 'tgif'))
    image = osp.join(root, f'{GEN}-fr', 'testing', f'000000000001_mask_segm.png_{GEN}-64_0.png')
    plain, with_gt = tmp_path / 'plain', tmp_path / 'gt'
    _run(models, image, '-o', plain)
    _run(models, image, '-o', with_gt, '--masks', osp.join(root, 'masks'))
    name = osp.basename(image) + '.overlay.png'
    width_plain = Image.open(plain / name).size[0]
    width_gt = Image.open(with_gt / name).size[0]
    assert width_gt > 1.2 * width_plain  # one more panel of the same size


# ---------------------------------------------------------------- 12.7 .npz convention
def test_npz_opens_in_upstream_visualize_for_a_model_without_heads(models, tmp_path):
    """Issue 12.7: upstream TruFor ``visualize.py`` reads ``result['map']`` and
    ``result['conf']`` (``imshow`` with clim [0, 1]) and formats ``result['score']`` with
    ``'%.3f'`` unconditionally; it shows ``result['np++'][16:-16:5, 16:-16:5]`` when the
    key exists. A Lite Baseline file had no ``conf``/``score`` (KeyError upstream)."""
    images = _images(tmp_path / 'in', names=('a.png',))
    out = tmp_path / 'out'
    assert _run(models, images, '-o', out) == 0
    with np.load(out / 'a.png.npz', allow_pickle=False) as result:
        assert result['map'].shape == result['conf'].shape == (48, 64)
        assert np.isnan(result['conf']).all()  # no confidence head: "not available"
        assert '%.3f' % result['score'] == 'nan'
        assert 'np++' not in result
        assert result['imgsize'].tolist() == [48, 64]


# ---------------------------------------------------------------- 15.11 / 15.12 options
def test_unusable_output_folder_is_refused_before_the_model_loads(models, tmp_path,
                                                                  monkeypatch, capsys):
    """Issue 15.11: ``-o`` a file gave a traceback; a read-only folder failed only after
    inference on every image."""
    from dp_plugin.apis import inference

    def no_model(*args, **kwargs):
        raise AssertionError('the model must not be loaded')

    monkeypatch.setattr(inference, 'Localizer', no_model)
    images = _images(tmp_path / 'in')
    a_file = tmp_path / 'taken'
    a_file.write_text('not a folder')
    assert _run(models, images, '-o', a_file) == 2
    assert 'exists and is not a folder' in capsys.readouterr().err

    def read_only(*args, **kwargs):  # what mkstemp meets on a read-only file system
        raise OSError(30, 'Read-only file system')

    monkeypatch.setattr(localize_cli.tempfile, 'mkstemp', read_only)
    assert _run(models, images, '-o', tmp_path / 'ro') == 2
    assert 'is not writable: Read-only file system' in capsys.readouterr().err


@pytest.mark.parametrize('option, message', [
    (['--threads', '-1'], '--threads must be >= 1'),
    (['--threads', 'many'], '--threads must be an integer'),
    (['--tile', '16'], '--tile must be 0 (no tiling) or >= 64'),
    (['--tile', '256', '--tile-overlap', '256'], '--tile-overlap must be < --tile'),
    (['--max-mpix', '0'], '--max-mpix must be in (0'),
    (['--min-size', '0'], '--min-size must be >= 1'),
    (['--cfg-options', 'model.x'], 'expects KEY=VALUE'),
])
def test_bad_options_are_refused_at_parse_time(option, message, capsys):
    """Issue 15.12: ``--threads -1`` gave a traceback, ``--tile 16`` failed every image."""
    with pytest.raises(SystemExit) as info:
        localize_cli.parse_args(['x.png', *option])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


# ---------------------------------------------------------------- 15.14 long names
def test_longest_legal_names_can_be_written(tmp_path):
    """Issue 15.14: names of 228-243 characters failed: the temp prefix added ~23."""
    for length in (228, 243, 255):
        target = tmp_path / ('n' * (length - 4) + '.npz')
        with atomic_write(str(target)) as fh:
            fh.write(b'data')
        assert target.read_bytes() == b'data'
    long_utf8 = tmp_path / ('é' * 125 + '.png')  # 254 bytes
    with atomic_write(str(long_utf8)) as fh:
        fh.write(b'x')
    assert long_utf8.read_bytes() == b'x'
    assert not [f for f in os.listdir(tmp_path) if TEMP_MARKER in f]


# ---------------------------------------------------------------- 13.5 start-up
def test_help_and_usage_errors_answer_before_torch_is_imported():
    """Issue 13.5: ``--help`` imported torch + mmseg (16 s) before parsing. The installed
    ``dp-localize`` is the console script ``dp_plugin.apis.localize_args:launch``
    (setup.py), run here as pip's wrapper runs it (``sys.exit(launch())``)."""
    code = ('import sys\n'
            'from dp_plugin.apis.localize_args import launch\n'
            'for argv in (["--help"], ["x.png", "--tile", "16"]):\n'
            '    sys.argv = ["dp-localize", *argv]\n'
            '    try:\n'
            '        sys.exit(launch())\n'
            '    except SystemExit as exc:\n'
            '        print(exc.code)\n'
            'print(sorted(m for m in ("torch", "mmseg", "mmengine", "numpy", "cv2") '
            'if m in sys.modules))\n')
    result = subprocess.run([sys.executable, '-c', code], env=dict(os.environ, PYTHONPATH=REPO),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-3:] == ['0', '2', '[]']
    assert 'usage: dp-localize' in result.stdout
    assert '--tile must be 0 (no tiling) or >= 64' in result.stderr


def test_cli_defaults_are_the_library_defaults():
    from dp_plugin.apis import image_io, inference, localize_args
    assert localize_args.DEFAULT_TILE == inference.DEFAULT_TILE
    assert localize_args.DEFAULT_TILE_OVERLAP == inference.DEFAULT_TILE_OVERLAP
    assert localize_args.DEFAULT_MAX_MPIX * 1e6 == image_io.DEFAULT_MAX_PIXELS
    assert localize_args.DEFAULT_MIN_SIZE == image_io.DEFAULT_MIN_SIZE
    from dp_plugin.utils import model_home
    assert localize_args.HOME_ENV == model_home.HOME_ENV
    assert osp.normpath(localize_args.DEFAULT_HOME) == osp.normpath(model_home.DEFAULT_HOME)
    assert osp.normpath(localize_args.DEFAULT_MODEL) == osp.normpath(model_home.DEFAULT_MODEL)


def test_first_map_is_timed_as_startup_plus_load_plus_inference(models, tmp_path):
    """Issue 13.5: the first map of an image is reported as start-up + model load +
    first image."""
    images = _images(tmp_path / 'in', names=('a.png',))
    started = time.perf_counter()
    assert _run(models, images, '-o', tmp_path / 'out') == 0
    timing = _summary(tmp_path / 'out')['timing']
    assert timing['first_map_seconds'] == pytest.approx(
        timing['startup_seconds'] + timing['model_load_seconds']
        + timing['first_image_seconds'], abs=2e-3)
    assert 0 < timing['first_map_seconds'] <= time.perf_counter() - started
