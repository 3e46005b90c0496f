import io
import json
import os.path as osp
import sys

import numpy as np
import pytest
from PIL import Image

from demo_lib import (Action, Step, StepFailed, StepRunner, f1_table, flat_table,  # tools/
                      qualitative_grid, step_table)
from _helpers import load_tool

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _writer(path, text='x', code=0):
    return ['-c', f'open({str(path)!r}, "w").write({text!r}); raise SystemExit({code})']


def test_step_runner_skips_finished_steps_and_reports_failures(tmp_path):
    log = io.StringIO()
    runner = StepRunner(str(tmp_path / 'logs'), total=4, stream=log)
    out = tmp_path / 'a.txt'
    assert runner.run(Step('make_a', _writer(out), outputs=[str(out)])) == 'done'
    assert runner.run(Step('make_a', _writer(out, 'changed'), outputs=[str(out)])) == 'skipped'
    assert out.read_text() == 'x'
    with pytest.raises(StepFailed, match=r'(?s)broken failed \(exit status 3\).*boom'):
        runner.run(Step('broken', ['-c', 'print("boom"); raise SystemExit(3)']))
    assert runner.run(Step('optional', ['-c', 'raise SystemExit(1)'], optional=True)) == 'failed'
    with pytest.raises(StepFailed, match='missing'):
        runner.run(Step('needs', ['-c', ''], needs=[str(tmp_path / 'nope.py')]))
    with pytest.raises(StepFailed, match='lost outputs|missing outputs'):
        runner.run(Step('no_output', ['-c', ''], outputs=[str(tmp_path / 'never.txt')]))
    calls = []
    action = Action('act', lambda: calls.append(1), outputs=[str(out)])
    assert runner.call(action) == 'skipped' and calls == []
    assert '[1/4] make_a' in log.getvalue()
    assert runner.results['broken'][0] == 'failed'


def test_f1_table_groups_by_generator_and_mask_type():
    rows_dp = [dict(generator='simnn', mask_type='segm', label=1, f1=0.5, f1_best=0.7),
               dict(generator='simnn', mask_type='segm', label=1, f1=0.7, f1_best=0.9),
               dict(generator='simps', mask_type='random', label=1, f1=0.2, f1_best=None),
               dict(generator='authentic', mask_type='none', label=0, fp_area=0.1)]
    rows_srm = [dict(generator='simnn', mask_type='segm', label=1, f1=0.1, f1_best=0.2)]
    table = f1_table({'DP': rows_dp, 'SRM': rows_srm}).splitlines()
    assert table[0] == ('| generator | mask | n | DP F1@0.5 | DP F1-best | SRM F1@0.5 | '
                        'SRM F1-best |')
    assert '| simnn | segm | 2 | 60.0 | 80.0 | 10.0 | 20.0 |' in table
    assert '| simps | random | 1 | 20.0 | – | – | – |' in table
    assert table[-1] == '| all | all | 3 | 46.7 | 80.0 | 10.0 | 20.0 |'
    assert not any('authentic' in line for line in table)
    probe = flat_table({'tiny': {'overall': 0.8, 'held_out': 0.5, 'n_test': 'x'}})
    assert '| tiny | 80.0 | 50.0 |' in probe
    probe = flat_table({'tiny': {'overall': 0.8, 'held_out': None, 'n_test': 'x'}},
                       ['overall', 'held_out', 'n_test'])
    assert '| tiny | 80.0 | – | x |' in probe


def test_qualitative_grid_is_written(tmp_path):
    rng = np.random.default_rng(0)
    image, mask = tmp_path / 'img.png', tmp_path / 'mask.png'
    Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(image)
    Image.fromarray((rng.random((40, 48)) > 0.5).astype(np.uint8) * 255).save(mask)
    npz = tmp_path / 'img.png.npz'
    np.savez(npz, map=rng.random((40, 48)).astype(np.float32))
    grid = tmp_path / 'grid.png'
    qualitative_grid([dict(title='a', image=str(image), mask=str(mask),
                           maps={'DP': str(npz)})], ['DP', 'SRM'], str(grid))
    assert Image.open(grid).size[0] > 200


def test_check_claims_reads_the_demo_results(tmp_path, monkeypatch):
    results = tmp_path / 'results'
    results.mkdir()
    rows = {'dp': [0.6, 0.5], 'srm': [0.3, 0.55]}
    for short, (f1_seen, f1_held) in rows.items():
        per_image = [dict(generator='simnn', mask_type='segm', label=1, f1=f1_seen),
                     dict(generator='simps', mask_type='segm', label=1, f1=f1_held)]
        (results / f'lite_{short}_per_image.json').write_text(json.dumps(per_image))
    check_claims = load_tool('check_claims')
    monkeypatch.chdir(REPO)  # main() works from the repository root; restored afterwards
    monkeypatch.setattr(sys, 'argv', ['check_claims.py', '--demo-out', str(tmp_path),
                                      '--only', 'localization', 'unseen_generator'])
    assert check_claims.main() == 0
    claims = json.loads((results / 'claims.json').read_text())
    assert claims['seeds'] == 1
    found = claims['claims']['localization']['variants']
    assert {k: v['mean'] for k, v in found.items()} == pytest.approx({'DP': 55.0, 'SRM': 42.5})
    assert found['DP']['std'] is None
    report = (results / 'claims.md').read_text()
    assert 'one seed: no std (the demo\'s single run' in report  # the demo's label
    assert 'DP 55.0 (n=1) vs SRM 42.5 (n=1) | +12.5 | – | agrees (one seed: no std) |' in report
    assert 'DP 50.0 (n=1) vs SRM 55.0 (n=1) | -5.0 | – | DISAGREES (one seed: no std) |' \
        in report


def _burn(path, seconds=0.3):
    """A step that spends about ``seconds`` of CPU time, then writes ``path``."""
    return ['-c', f'import time\nt = time.process_time()\n'
                  f'while time.process_time() - t < {seconds}: pass\n'
                  f'open({str(path)!r}, "w").write("x")']


def test_run_parallel_records_wall_and_cpu_time_and_resumes(tmp_path):
    log = io.StringIO()
    runner = StepRunner(str(tmp_path / 'logs'), total=6, stream=log)
    a, b = tmp_path / 'a.txt', tmp_path / 'b.txt'
    steps = [Step('a', _burn(a), outputs=[str(a)]), Step('b', _burn(b), outputs=[str(b)])]
    assert runner.run_parallel(steps, jobs=2) == {'a': 'done', 'b': 'done'}
    for name in 'ab':
        status, wall, cpu = runner.results[name]
        assert status == 'done' and cpu >= 0.25 and wall >= cpu * 0.5
    assert runner.cpu_total() >= 0.5
    # a re-run skips finished steps and reports what they cost when they ran
    again = StepRunner(str(tmp_path / 'logs'), total=2, stream=log)
    assert again.run_parallel(steps) == {'a': 'skipped', 'b': 'skipped'}
    assert again.results['a'].cpu == pytest.approx(runner.results['a'].cpu, abs=0.01)
    assert again.cpu_total() == 0
    assert 'skipped (times: earlier run)' in step_table(again.results)
    stale = tmp_path / 'stale'
    stale.mkdir()
    (stale / 'partial.bin').write_text('x')
    forced = StepRunner(str(tmp_path / 'logs'), total=2, force=True, stream=log)
    step = Step('a', _burn(a, 0.0), outputs=[str(a)], fresh=[str(stale)])
    assert forced.run_parallel([step]) == {'a': 'done'}
    assert not stale.exists()  # removed before the forced re-run
    table = step_table(runner.results).splitlines()
    assert table[0] == '| step | status | wall s | CPU s |'
    assert table[-1].startswith('| total |')


def test_run_parallel_finishes_the_others_before_raising(tmp_path):
    runner = StepRunner(str(tmp_path / 'logs'), total=3, stream=io.StringIO())
    ok = tmp_path / 'ok.txt'
    with pytest.raises(StepFailed, match='bad failed'):
        runner.run_parallel([Step('bad', ['-c', 'raise SystemExit(2)']),
                             Step('ok', _writer(ok), outputs=[str(ok)]),
                             Step('opt', ['-c', 'raise SystemExit(1)'], optional=True)])
    assert ok.read_text() == 'x' and runner.results['ok'].status == 'done'
    assert runner.results['opt'].status == 'failed'
    # a missing input of a required step: nothing of the group starts
    never = tmp_path / 'never.txt'
    with pytest.raises(StepFailed, match='cannot run, missing'):
        runner.run_parallel([Step('needs', ['-c', ''], needs=[str(tmp_path / 'nope')]),
                             Step('w', _writer(never), outputs=[str(never)])])
    assert not never.exists()


def test_demo_plan_counts_its_steps_and_all_forged_reference(tmp_path):
    demo = load_tool('demo')
    for claims in (True, False):
        plan = demo.Plan(str(tmp_path / 'out'), claims=claims)
        steps = [step for stage in plan.stages() for step in stage()]
        assert len(steps) == demo.count_steps(plan)
        assert len({s.name for s in steps}) == len(steps)
    loc = tmp_path / 'loc'
    (loc / 'lists').mkdir(parents=True)
    (loc / 'masks').mkdir()
    mask = np.zeros((10, 10), np.uint8)
    mask[:5, :4] = 255  # 20 % forged: all-forged F1 = 2 * 20 / (20 + 100)
    Image.fromarray(mask).save(loc / 'masks' / 'm.png')
    (loc / 'lists' / 'testing_simps_segm.txt').write_text('img.png masks/m.png 1\n')
    (loc / 'lists' / 'testing_auth.txt').write_text('orig.png None 0\n')
    rows = demo.all_forged_rows(str(loc))
    assert len(rows) == 1 and rows[0]['generator'] == 'simps'
    assert rows[0]['f1'] == pytest.approx(40 / 120)
