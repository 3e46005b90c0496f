"""tools/spectra.py on a tiny simulated pretraining set."""
import importlib.util
import json
import os.path as osp

import pytest

from dp_plugin.simulate import build_pretrain_set

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _tool():
    spec = importlib.util.spec_from_file_location('spectra_tool', osp.join(ROOT, 'tools', 'spectra.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_spectra_tool_writes_figure_and_band_powers(tmp_path, capsys):
    root = str(tmp_path / 'pretrain')
    build_pretrain_set(root, n_real=4, n_generated=2, size=64, progress=False)
    out = str(tmp_path / 'fig' / 'spectra.png')
    res = _tool().main([root, '--out', out, '--patch', '16', '--no-progress'])
    assert open(out, 'rb').read(8) == b'\x89PNG\r\n\x1a\n'
    text = capsys.readouterr().out
    assert 'regen/src' in text and 'simtc' in text
    for gen in ('simnn', 'simbl', 'simtc'):
        d = res['generators'][gen]
        assert set(d) == {'real src', 'real regen', 'gen src', 'gen inpainted'}
        # the paper's Fig. 3 effect on the simulator: regeneration removes band power
        assert d['real regen']['band_power'] < 0.7 * d['real src']['band_power']


def test_spectra_tool_reports_bad_records_and_continues(tmp_path, capsys):
    root = tmp_path / 'pretrain'
    build_pretrain_set(str(root), n_real=2, n_generated=1, size=64, progress=False)
    lines = (root / 'manifest.jsonl').read_text().splitlines()
    bad = json.loads(lines[0])
    bad['inpainted'] = 'inpainted/missing.png'
    (root / 'manifest.jsonl').write_text('\n'.join([json.dumps(bad)] + lines[1:]) + '\n')
    res = _tool().main([str(root), '--out', str(tmp_path / 's.png'), '--patch', '16', '--no-progress'])
    assert len(res['skipped']) == 1 and 'missing.png' in res['skipped'][0]
    (root / 'manifest.jsonl').write_text('{"image_id": 1}\n')
    with pytest.raises(ValueError, match='missing keys'):
        _tool().main([str(root), '--out', str(tmp_path / 's.png'), '--no-progress'])
