"""The multi-seed claims check (tools/check_claims.py): the decision rule and the table,
on fake results (no training)."""
import json
import math
import os.path as osp
import sys

import pytest

from _helpers import load_tool

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_decision_rule_needs_a_gap_over_twice_the_pooled_std():
    cc = load_tool('check_claims')
    # std 2 and 1: pooled sqrt((2 * 4 + 2 * 1) / 4) = sqrt(2.5); gap 11 > 2 * 1.58
    result = cc.decide([80, 82, 84], [70, 71, 72], tie=1.0)
    assert result.gap == pytest.approx(11)
    assert result.threshold == pytest.approx(2 * math.sqrt(2.5))
    assert result.verdict == 'agrees'
    assert cc.decide([70, 71, 72], [80, 82, 84], tie=1.0).verdict == 'DISAGREES'
    # a 3-point gap with std 2 on both sides: 3 < 4 is noise, although 3 > the tie of 1
    noisy = cc.decide([52, 54, 56], [49, 51, 53], tie=1.0)
    assert noisy.threshold == pytest.approx(4) and noisy.verdict == 'within noise'
    # unequal counts pool with their degrees of freedom: (1 * 2 + 2 * 4) / 3
    assert cc.pooled_std([1, 3], [0, 2, 4]) == pytest.approx(math.sqrt(10 / 3))
    # the gap must exceed the threshold: equal is noise
    assert cc.decide([2, 4], [0, 2], tie=1.0).verdict == 'within noise'  # gap 2, 2 * std 1.41
    assert cc.decide([3, 3], [1, 1], tie=1.0).verdict == 'agrees'  # no spread at all


def test_one_seed_uses_the_tie_rule_and_says_so():
    cc = load_tool('check_claims')
    assert cc.decide([75.0], [74.5], tie=1.0).verdict == 'tie (one seed: no std; |gap| < 1)'
    one = cc.decide([75.0], [70.0], tie=1.0)
    assert one.threshold is None and one.verdict == 'agrees (one seed: no std)'
    assert cc.decide([70.0], [75.0], tie=1.0).verdict == 'DISAGREES (one seed: no std)'
    # one side with a single seed has no std either
    assert cc.decide([75.0], [70.0, 71.0], tie=1.0).verdict == 'agrees (one seed: no std)'
    assert cc.mean_std([3.0]) == (3.0, None)


def _write(path, content):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))


def test_three_seed_table_from_fake_results(tmp_path, monkeypatch, capsys):
    """Seed 0 is read from the demo's own results, seeds 1 and 2 from claims/seed{s}/;
    nothing is trained (the demo's data are absent, so every training step is
    unavailable and the finished ones are skipped)."""
    cc = load_tool('check_claims')
    out = tmp_path / 'demo_out'
    probe = {0: 'results/linear_probe.json', 1: 'claims/seed1/demo_default/linear_probe.json',
             2: 'claims/seed2/demo_default/linear_probe.json'}
    for seed, (pairing, moco) in enumerate([(0.80, 0.70), (0.82, 0.71), (0.84, 0.72)]):
        _write(out / probe[seed], dict(overall=pairing))
        _write(out / ('claims' if seed == 0 else f'claims/seed{seed}') / 'moco-aug'
               / 'linear_probe.json', dict(overall=moco))
    # all forged (2 simnn rows + 1 simps row): DP 46.7, 48.3, 50.0 vs SRM 49.3, 51.0, 52.7
    # (gap -2.7, 2 x pooled std 3.3: noise); on simps DP 40-42 vs SRM 60-62
    f1 = {'dp': ([0.50, 0.52, 0.54], 0.40), 'srm': ([0.44, 0.46, 0.48], 0.60),
          'npp': ([0.30, 0.31, 0.32], 0.10)}
    for short, (seen, held) in f1.items():
        for seed in range(3):
            rows = [dict(generator='simnn', mask_type='segm', label=1, f1=seen[seed]),
                    dict(generator='simnn', mask_type='segm', label=1, f1=seen[seed]),
                    dict(generator='authentic', mask_type='none', label=0, f1=None),
                    dict(generator='simps', mask_type='segm', label=1,
                         f1=held + 0.01 * seed)]
            folder = 'results' if seed == 0 else f'claims/seed{seed}'
            _write(out / folder / f'lite_{short}_per_image.json', rows)
    monkeypatch.setattr(sys, 'argv', [
        'check_claims.py', '--demo-out', str(out), '--seeds', '3',
        '--only', 'pairing', 'localization', 'unseen_generator', '--noiseprint', ''])
    monkeypatch.chdir(REPO)
    assert cc.main() == 0
    assert not (out / 'results' / 'claims.md').exists()  # the demo's one-seed table stays
    report = (out / 'results' / 'claims_3seeds.md').read_text()
    assert '3 seeds (0..2; seed 0 is the demo)' in report
    assert '| pairing | patch pairing | 80.0, 82.0, 84.0 | 82.0 ± 2.0 (3) |' in report
    assert '| pairing | MoCo-aug | 70.0, 71.0, 72.0 | 71.0 ± 1.0 (3) |' in report
    # all-forged localization mean of seed s: (2 * seen + held) / 3
    dp = [(2 * v + 0.40 + 0.01 * s) / 3 * 100 for s, v in enumerate(f1['dp'][0])]
    assert f'| localization | DP | {dp[0]:.1f}, {dp[1]:.1f}, {dp[2]:.1f} |' in report
    lines = report.splitlines()

    def verdict_of(claim_key, other):
        text = next(c.text for c in cc.CLAIMS if c.key == claim_key)
        found = [ln for ln in lines if ln.startswith(f'| {text} |') and f'vs {other} ' in ln]
        assert len(found) == 1, found
        return found[0].rsplit('|', 2)[1].strip()

    assert verdict_of('pairing', 'MoCo-aug') == 'agrees'
    assert verdict_of('localization', 'SRM') == 'within noise'
    assert verdict_of('localization', 'NP++') == 'agrees'
    assert verdict_of('unseen_generator', 'SRM') == 'DISAGREES'
    record = json.loads((out / 'results' / 'claims_3seeds.json').read_text())
    assert record['seeds'] == 3
    pairing = record['claims']['pairing']
    assert pairing['variants']['MoCo-aug']['std'] == pytest.approx(1.0)
    assert pairing['comparisons'][0]['verdict'] == 'agrees'
    assert 'one seed' not in report
    printed = capsys.readouterr().out
    assert 'within noise' in printed


def test_missing_seeds_are_shown_and_counted(tmp_path):
    cc = load_tool('check_claims')
    claim = next(c for c in cc.CLAIMS if c.key == 'cls_head')
    lines, record = cc.claims_report(
        [claim], {'cls_head': {'generator head': {0: 75.0, 1: 77.0, 2: 76.0},
                               'no head': {0: 70.0, 2: 71.0}}}, seeds=3, tie=1.0)
    assert '| cls_head | no head | 70.0, –, 71.0 | 70.5 ± 0.7 (2) |' in lines
    assert record['claims']['cls_head']['variants']['no head']['n'] == 2
    assert any('n=2' in ln and ln.endswith('| agrees |') for ln in lines)
    lines, _ = cc.claims_report([claim], {'cls_head': {'generator head': {0: 75.0}}},
                                seeds=3, tie=1.0)
    assert any('not measured (missing results)' in ln for ln in lines)


def test_no_train_only_reads_what_exists(tmp_path, monkeypatch, capsys):
    cc = load_tool('check_claims')
    out = tmp_path / 'demo_out'
    (out / 'data' / 'pretrain_patches').mkdir(parents=True)  # a training could start
    _write(out / 'results' / 'linear_probe.json', dict(overall=0.8))
    monkeypatch.chdir(REPO)
    assert cc.main(['--demo-out', str(out), '--seeds', '2', '--only', 'pairing',
                    '--no-train']) == 0
    printed = capsys.readouterr().out
    assert 'pretrain' not in printed and not (out / 'logs').exists()
    report = (out / 'results' / 'claims_2seeds.md').read_text()
    assert '| pairing | patch pairing | 80.0, – | 80.0 (one seed: no std) |' in report
    assert '| pairing | MoCo-aug | –, – | not measured |' in report


def test_demo_report_shows_its_one_seed_table_and_a_multi_seed_one(tmp_path):
    demo = load_tool('demo')
    from demo_lib import StepRunner
    plan = demo.Plan(str(tmp_path), noiseprint='')
    results = tmp_path / 'results'
    results.mkdir()
    (results / 'claims.md').write_text('## one-seed table\n')
    (results / 'claims_3seeds.md').write_text('## three-seed table\n')
    report = demo.write_report(plan, StepRunner(str(tmp_path / 'logs'), total=0))
    assert report.index('## one-seed table') < report.index('## three-seed table')
    assert '--seeds' in plan.claims_step().cmd and \
        plan.claims_step().cmd[plan.claims_step().cmd.index('--seeds') + 1] == '1'
