"""tools/spectra.py on a tiny simulated pretraining set."""
import json

import pytest

from dp_plugin.simulate import build_pretrain_set
from _helpers import load_tool


def test_spectra_tool_writes_figure_and_band_powers(tmp_path, capsys):
    root = str(tmp_path / 'pretrain')
    build_pretrain_set(root, n_real=4, n_generated=2, size=64, progress=False)
    out = str(tmp_path / 'fig' / 'spectra.png')
    res = load_tool('spectra').main([root, '--out', out, '--patch', '16', '--no-progress'])
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
    res = load_tool('spectra').main([str(root), '--out', str(tmp_path / 's.png'), '--patch', '16', '--no-progress'])
    assert len(res['skipped']) == 1 and 'missing.png' in res['skipped'][0]
    (root / 'manifest.jsonl').write_text('{"image_id": 1}\n')
    with pytest.raises(ValueError, match='missing keys'):
        load_tool('spectra').main([str(root), '--out', str(tmp_path / 's.png'), '--no-progress'])
