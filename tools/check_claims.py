#!/usr/bin/env python
"""Check the paper's claims in miniature and print the paper's direction beside ours.

Run after (or by) ``tools/demo.py``: the localization claims read the demo's results,
the pretraining claims train the demo's tiny DiffusionPrint config with one change each
(``--cfg-options``), export it and run the linear probe on the demo's separate probe set.
Differences within ``--tie`` points are reported as ties: one seed of a miniature is noisy.

    python tools/check_claims.py --demo-out demo_out [--only pairing augmentation]
"""
import argparse
import json
import os
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN_CONFIG = 'configs/pretrain/diffusionprint_tiny_demo.py'  # the demo's own
HELD_OUT = 'simps'  # never seen in pretraining (docs/contracts.md)


@dataclass
class Claim:
    """A checkable claim: ``better`` beats each of ``worse`` on ``metric``."""

    key: str
    text: str
    better: str
    worse: List[str]
    metric: str
    #: pretraining variants: name -> cfg-options (the tiny config's defaults: patch
    #: pairing, generator head, geometric augmentation)
    variants: Dict[str, List[str]] = field(default_factory=dict)


CLAIMS = [
    Claim('pairing', 'Spatial patch pairing beats augmentation-only (MoCo) positives '
          '(Table 1)', 'patch pairing', ['MoCo-aug'], 'linear probe accuracy',
          {'patch pairing': [], 'MoCo-aug': ['model.pairing=moco_aug']}),
    Claim('cls_head', 'The generator-aware classification head helps (Table 1)',
          'generator head', ['no head'], 'linear probe accuracy',
          {'generator head': [], 'no head': ['model.num_classes=0', 'model.cls_weight=0.0']}),
    Claim('augmentation', 'Geometric augmentation beats none and the high-pass filter '
          '(Table 3)', 'geometric', ['none', 'geometric + HP'], 'linear probe accuracy',
          {'geometric': [], 'none': ['model.flip=False'],
           'geometric + HP': ['model.input_highpass=0.1']}),
    Claim('localization', 'DiffusionPrint beats SRM and Noiseprint++ as the Lite '
          'Baseline\'s modality (Table 2)', 'DP', ['SRM', 'NP++'], 'F1@0.5, all forged'),
    Claim('unseen_generator', f'DiffusionPrint pretrained without a generator still beats '
          f'Noiseprint++ (here also SRM) on it ({HELD_OUT}, held out of pretraining)', 'DP',
          ['SRM', 'NP++'], f'F1@0.5 on {HELD_OUT}'),
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--demo-out', default='demo_out')
    parser.add_argument('--only', nargs='+', choices=[c.key for c in CLAIMS])
    parser.add_argument('--tie', type=float, default=1.0, help='points within which two '
                        'results count as a tie (default: %(default)s)')
    parser.add_argument('--force', action='store_true')
    parser.add_argument('--jobs', type=int, default=2,
                        help='pretraining variants trained at once (default %(default)s)')
    parser.add_argument('--results-name', default='claims',
                        help='writes DEMO_OUT/results/NAME.{md,json} (default %(default)s)')
    return parser.parse_args()


def variant_paths(out: str, name: str) -> Tuple[str, str, str]:
    """``(work dir, export, probe result)`` of one pretraining variant."""
    slug = name.lower().replace(' ', '_').replace('+', 'plus')
    work = osp.join(out, 'claims', slug)
    return work, osp.join(work, 'export.safetensors'), osp.join(work, 'linear_probe.json')


def pretrain_variants(runner, out: str, claims: List[Claim], jobs: int) -> None:
    """Train, export and probe every changed pretraining variant of ``claims``: each
    stage for all variants at once (``jobs`` processes), so a 2-core machine is busy."""
    from demo_lib import Step, latest_checkpoint
    patches = osp.join(out, 'data', 'pretrain_patches')
    probe_patches = osp.join(out, 'data', 'probe_patches')  # the demo's separate probe set
    variants = {name: options for claim in claims for name, options in claim.variants.items()
                if options}
    paths = {name: variant_paths(out, name) for name in variants}
    optional = dict(optional=True)  # a failed variant is reported, the others go on
    runner.run_parallel([
        Step(f'pretrain_{osp.basename(paths[name][0])}',
             ['tools/train.py', PRETRAIN_CONFIG, '--work-dir', paths[name][0], '--cfg-options',
              f'train_dataloader.dataset.data_root={patches}', *options],
             outputs=[osp.join(paths[name][0], 'epoch_*.pth')],
             needs=['tools/train.py', patches], **optional)
        for name, options in variants.items()], jobs)
    runner.run_parallel([
        Step(f'export_{osp.basename(work)}',
             ['tools/export_backbone.py', latest_checkpoint(work), export], outputs=[export],
             needs=[latest_checkpoint(work)], **optional)
        for work, export, _ in paths.values()], jobs)
    runner.run_parallel([
        Step(f'probe_{osp.basename(work)}',
             ['tools/linear_probe.py', export, probe_patches, '--out', result],
             outputs=[result], needs=[export, probe_patches], **optional)
        for work, export, result in paths.values()], jobs)


def probe_accuracy(out: str, name: str, options: List[str]) -> Optional[float]:
    """Overall linear-probe accuracy (%) of a variant (the demo's own model when
    ``options`` is empty); ``None`` when it was not measured."""
    from demo_lib import load_json
    path = (osp.join(out, 'results', 'linear_probe.json') if not options
            else variant_paths(out, name)[2])
    probe = load_json(path)
    return None if probe is None else 100 * probe['overall']


def localization_results(out: str, generator: Optional[str] = None) -> Dict[str, float]:
    """Mean F1@0.5 (%) over forged test images of each demo model."""
    from demo_lib import load_json
    found = {}
    for label, short in (('DP', 'dp'), ('SRM', 'srm'), ('NP++', 'npp')):
        rows = load_json(osp.join(out, 'results', f'lite_{short}_per_image.json'))
        if not rows:
            continue
        values = [r['f1'] for r in rows if r.get('label') == 1 and r.get('f1') is not None
                  and (generator is None or r.get('generator') == generator)]
        if values:
            found[label] = 100 * sum(values) / len(values)
    return found


def verdict(values: Dict[str, float], claim: Claim, tie: float) -> List[Tuple[str, str]]:
    """``(comparison, agreement)`` for each ``worse`` entry that was measured."""
    rows = []
    for other in claim.worse:
        if claim.better not in values or other not in values:
            continue
        diff = values[claim.better] - values[other]
        sign = '≈' if abs(diff) < tie else ('>' if diff > 0 else '<')
        agree = {'>': 'agrees', '≈': 'tie (within noise)', '<': 'DISAGREES'}[sign]
        rows.append((f'{claim.better} {values[claim.better]:.1f} {sign} {other} '
                     f'{values[other]:.1f}', agree))
    return rows


def main() -> int:
    args = parse_args()
    os.chdir(REPO)
    sys.path.insert(0, REPO)
    from demo_lib import StepFailed, StepRunner
    from dp_plugin.apis.image_io import atomic_write
    claims = [c for c in CLAIMS if not args.only or c.key in args.only]
    variants = sum(bool(o) for c in claims for o in c.variants.values())
    runner = StepRunner(osp.join(args.demo_out, 'logs', 'claims'), total=3 * variants,
                        force=args.force, env={'PYTHONPATH': REPO, 'OMP_NUM_THREADS': '1'})
    try:
        pretrain_variants(runner, args.demo_out, claims, args.jobs)
    except StepFailed as exc:  # a missing input (no patch set): report, do not stop
        runner.say(f'pretraining variants could not be run: {exc}')
    report = ['## Claims check (paper direction vs this miniature)', '',
              f'SIMULATED data, one seed, tiny models; |difference| < {args.tie:g} '
              f'points is reported as a tie; differences of a few points are within the '
              f'split noise of these tiny probes and models. `DISAGREES`: the miniature '
              f'contradicts the paper\'s direction (printed, not hidden).', '',
              '| claim | metric | paper | measured | verdict |', '|---|---|---|---|---|']
    record = {}
    for claim in claims:
        if claim.variants:
            values = {name: probe_accuracy(args.demo_out, name, options)
                      for name, options in claim.variants.items()}
        else:
            values = localization_results(
                args.demo_out, HELD_OUT if claim.key == 'unseen_generator' else None)
        values = {k: v for k, v in values.items() if v is not None}
        record[claim.key] = values
        paper = ' > '.join([claim.better, ', '.join(claim.worse)])
        rows = verdict(values, claim, args.tie) or [('not measured (missing results)', '–')]
        for measured, agree in rows:
            report.append(f'| {claim.text} | {claim.metric} | {paper} | {measured} | {agree} |')
            print(f'{claim.key:<18} paper: {paper:<28} measured: {measured:<36} {agree}')
    results = osp.join(args.demo_out, 'results')
    name = osp.join(results, args.results_name)
    with atomic_write(name + '.json', 'w') as fh:
        json.dump(record, fh, indent=1)
    with atomic_write(name + '.md', 'w') as fh:  # last: the demo's sign of completion
        fh.write('\n'.join(report) + '\n')
    print(f'wrote {name}.md')
    return 0


if __name__ == '__main__':
    sys.exit(main())
