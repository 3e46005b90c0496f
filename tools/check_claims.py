#!/usr/bin/env python
"""Check the paper's claims in miniature, over one or more seeds, and print the paper's
direction beside ours.

Run after ``tools/demo.py`` (it reads the demo's data and, for seed 0, the demo's own
models). Pretraining claims train the demo's tiny DiffusionPrint config (the tiny twin of
the ``paper`` family) with one ``--cfg-options`` change each, export it and run the linear
probe on the demo's separate probe set; a seed sets the pretraining's and the probe's seed.
Localization claims compare the Lite Baseline with DP / SRM / NP++; a seed sets the Lite
Baseline's training seed, and the DP of seed ``s`` is the demo config pretrained with seed
``s``. Seed 0 is the demo itself.

Each variant is reported as mean ± std (sample std) over the seeds; a claim agrees or
disagrees only when the gap of the means exceeds twice the pooled std, else it is "within
noise". With one seed there is no std: the old rule (``--tie`` points) is used, labelled.

    python tools/check_claims.py --demo-out demo_out [--seeds 3] [--only pairing ...]
"""
import argparse
import json
import math
import os
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN_CONFIG = 'configs/pretrain/diffusionprint_tiny_demo.py'  # the demo's own
HELD_OUT = 'simps'  # never seen in pretraining (docs/contracts.md)
#: the demo's own pretraining config, unchanged (the reference of every pretraining claim)
BASELINE = 'demo default'
ONE_SEED = 'one seed: no std'


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
          {'patch pairing': [], 'MoCo-aug': ['model.data_preprocessor.pairing=moco_aug']}),
    Claim('cls_head', 'The generator-aware classification head helps (Table 1)',
          'generator head', ['no head'], 'linear probe accuracy',
          {'generator head': [], 'no head': ['model.num_classes=0', 'model.cls_weight=0.0']}),
    Claim('augmentation', 'Geometric augmentation beats none and the high-pass filter '
          '(Table 3)', 'geometric', ['none', 'geometric + HP'], 'linear probe accuracy',
          {'geometric': [], 'none': ['model.data_preprocessor.flip=False'],
           'geometric + HP': ['model.data_preprocessor.input_highpass=0.1']}),
    Claim('localization', 'DiffusionPrint beats SRM and Noiseprint++ as the Lite '
          'Baseline\'s modality (Table 2)', 'DP', ['SRM', 'NP++'], 'F1@0.5, all forged'),
    Claim('unseen_generator', f'DiffusionPrint pretrained without a generator still beats '
          f'Noiseprint++ (here also SRM) on it ({HELD_OUT}, held out of pretraining)', 'DP',
          ['SRM', 'NP++'], f'F1@0.5 on {HELD_OUT}'),
]


def parse_args(argv=None):
    from demo import NOISEPRINT
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--demo-out', default='demo_out')
    parser.add_argument('--only', nargs='+', choices=[c.key for c in CLAIMS])
    parser.add_argument('--seeds', type=int, default=1,
                        help='seeds 0..N-1 of every compared variant (default %(default)s: '
                             'the demo alone; >= 3 for a std)')
    parser.add_argument('--tie', type=float, default=1.0, help='one seed only: points within '
                        'which two results count as a tie (default: %(default)s)')
    parser.add_argument('--force', action='store_true')
    parser.add_argument('--no-train', action='store_true',
                        help='run nothing: the table of the results that exist (what is '
                             'missing is shown as such)')
    parser.add_argument('--jobs', type=int, default=2,
                        help='trainings run at once (default %(default)s)')
    parser.add_argument('--noiseprint', default=NOISEPRINT,
                        help='Noiseprint++ weights for the NP++ Lite Baselines of seeds >= 1 '
                             '(default: the demo\'s; skipped when the file is absent)')
    parser.add_argument('--results-name',
                        help='writes DEMO_OUT/results/NAME.{md,json} (default: claims with '
                             'one seed, the demo\'s table; claims_Nseeds with N seeds)')
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error('--seeds must be >= 1')
    if args.results_name is None:
        args.results_name = 'claims' if args.seeds == 1 else f'claims_{args.seeds}seeds'
    return args


# ------------------------------------------------------------------ paths
def slug(name: str) -> str:
    return name.lower().replace(' ', '_').replace('+', 'plus')


def seed_dir(out: str, seed: int) -> str:
    """Where the claims check keeps what it trains for ``seed`` (seed 0: as before)."""
    return osp.join(out, 'claims') if seed == 0 else osp.join(out, 'claims', f'seed{seed}')


def variant_paths(out: str, name: str, seed: int = 0) -> Tuple[str, str, str]:
    """``(work dir, export, probe result)`` of one pretraining variant and seed; the
    baseline of seed 0 is the demo's own model."""
    if name == BASELINE and seed == 0:
        return (osp.join(out, 'work', 'pretrain_dp'),
                osp.join(out, 'models', 'diffusionprint_tiny.safetensors'),
                osp.join(out, 'results', 'linear_probe.json'))
    work = osp.join(seed_dir(out, seed), slug(name))
    return work, osp.join(work, 'export.safetensors'), osp.join(work, 'linear_probe.json')


def lite_results_dir(out: str, seed: int) -> str:
    """Folder of the ``lite_{dp,srm,npp}_per_image.json`` of ``seed`` (0: the demo's)."""
    return osp.join(out, 'results') if seed == 0 else seed_dir(out, seed)


def pretraining_variants(claims: Sequence[Claim]) -> Dict[str, List[str]]:
    """``{variant: cfg-options}`` of ``claims``; every empty change is :data:`BASELINE`."""
    variants = {}
    for claim in claims:
        for name, options in claim.variants.items():
            variants[name if options else BASELINE] = list(options)
    return variants


def variant_of(claim: Claim, name: str) -> str:
    return name if claim.variants.get(name) else BASELINE


# ------------------------------------------------------------------ training
def blocks(claims: Sequence[Claim]) -> List[List[Claim]]:
    """``claims`` in the order they are trained, each block finished before the next
    starts (so that a run stopped early leaves whole claims, not parts of all): the
    localization claims together (they share their models), then the pretraining claims
    two at a time (six pretrainings a block at three seeds: even work for two cores)."""
    localization = [c for c in claims if not c.variants]
    pretraining = [c for c in claims if c.variants]
    return ([localization] if localization else []) + [
        pretraining[i:i + 2] for i in range(0, len(pretraining), 2)]


def plan_steps(out: str, claims: Sequence[Claim], seeds: int, noiseprint: str):
    """The claims check's steps in four groups (pretrain, export, probe + Lite DP training,
    Lite DP test); every group's steps are independent. The demo's own steps (seed 0
    baseline and Lite Baselines) are not repeated here."""
    from demo import LITE_CONFIG, MODELS, Plan
    from demo_lib import Step, latest_checkpoint
    patches = osp.join(out, 'data', 'pretrain_patches')
    probe_patches = osp.join(out, 'data', 'probe_patches')  # the demo's separate probe set
    demo = Plan(out, claims=False, noiseprint=noiseprint)
    optional = dict(optional=True)  # a failed step is reported, the others go on
    variants = pretraining_variants(claims)
    localization = any(not c.variants for c in claims)
    if localization and seeds > 1:  # Lite DP of seed s needs the baseline of seed s
        variants.setdefault(BASELINE, [])
    runs = [(name, seed) for seed in range(seeds) for name in variants
            if not (name == BASELINE and seed == 0)]
    lite_seeds = list(range(1, seeds)) if localization else []

    def lite(model: str, seed: int, stage: str):
        config = LITE_CONFIG.format(MODELS[model][0])
        short = MODELS[model][1]
        work = osp.join(seed_dir(out, seed), f'lite_{short}')
        modality = ([f'model.modality.checkpoint={variant_paths(out, BASELINE, seed)[1]}']
                    if model == 'DP' else demo.modality_options(model))
        options = [*demo.data_options(), *modality, f'randomness.seed={seed}']
        if stage == 'train':
            return Step(f'seed{seed}_train_lite_{short}',
                        ['tools/train.py', config, '--work-dir', work, *options],
                        outputs=[osp.join(work, 'best_*.pth')],
                        needs=['tools/train.py', osp.join(demo.loc, 'meta.json'),
                               *([variant_paths(out, BASELINE, seed)[1]] if model == 'DP'
                                 else [])], **optional)
        result = osp.join(lite_results_dir(out, seed), f'lite_{short}_per_image.json')
        return Step(f'seed{seed}_test_lite_{short}',
                    ['tools/test.py', config, latest_checkpoint(work, 'best_*.pth'),
                     '--work-dir', osp.join(work, 'test'), '--out', result, *options],
                    outputs=[result], needs=[latest_checkpoint(work, 'best_*.pth')], **optional)

    def name_of(name: str, seed: int, stage: str) -> str:
        return f'{stage}_{slug(name)}' if seed == 0 else f'seed{seed}_{stage}_{slug(name)}'

    def pretrain():
        steps = []
        for name, seed in runs:
            work = variant_paths(out, name, seed)[0]
            steps.append(Step(
                name_of(name, seed, 'pretrain'),
                ['tools/train.py', PRETRAIN_CONFIG, '--work-dir', work, '--cfg-options',
                 f'train_dataloader.dataset.data_root={patches}',
                 *([f'randomness.seed={seed}'] if seed else []), *variants[name]],
                outputs=[osp.join(work, 'epoch_*.pth')], needs=['tools/train.py', patches],
                **optional))
        # the Lite DP's pretrainings first, then the other Lite trainings (they need no
        # pretraining; NP++, the longest, first), then the other variants
        first = [step for step, (name, _) in zip(steps, runs) if name == BASELINE]
        others = sorted((m for m in demo.models if m != 'DP'), key=lambda m: m != 'NP++')
        return first + [lite(m, s, 'train') for m in others for s in lite_seeds] + \
            [step for step in steps if step not in first]

    def export():
        steps = []
        for name, seed in runs:
            work, exported, _ = variant_paths(out, name, seed)
            steps.append(Step(name_of(name, seed, 'export'),
                              ['tools/export_backbone.py', latest_checkpoint(work), exported],
                              outputs=[exported], needs=[latest_checkpoint(work)], **optional))
        return steps

    def probe():
        steps = [lite('DP', s, 'train') for s in lite_seeds if 'DP' in demo.models]
        for name, seed in runs:
            _, exported, result = variant_paths(out, name, seed)
            steps.append(Step(name_of(name, seed, 'probe'),
                              ['tools/linear_probe.py', exported, probe_patches, '--out',
                               result, *(['--seed', str(seed)] if seed else [])],
                              outputs=[result], needs=[exported, probe_patches], **optional))
        return steps + [lite(m, s, 'test') for s in lite_seeds for m in demo.models
                        if m != 'DP']

    def test():
        return [lite('DP', s, 'test') for s in lite_seeds if 'DP' in demo.models]

    return [pretrain, export, probe, test]


# ------------------------------------------------------------------ results
def probe_accuracy(out: str, name: str, seed: int = 0) -> Optional[float]:
    """Overall linear-probe accuracy (%) of a variant and seed; ``None`` when it was not
    measured."""
    from demo_lib import load_json
    probe = load_json(variant_paths(out, name, seed)[2])
    return None if probe is None else 100 * probe['overall']


def localization_results(results: str, generator: Optional[str] = None) -> Dict[str, float]:
    """Mean F1@0.5 (%) over forged test images of each Lite Baseline in ``results``."""
    from demo_lib import load_json
    found = {}
    for label, short in (('DP', 'dp'), ('SRM', 'srm'), ('NP++', 'npp')):
        rows = load_json(osp.join(results, f'lite_{short}_per_image.json'))
        if not rows:
            continue
        values = [r['f1'] for r in rows if r.get('label') == 1 and r.get('f1') is not None
                  and (generator is None or r.get('generator') == generator)]
        if values:
            found[label] = 100 * sum(values) / len(values)
    return found


def claim_values(out: str, claim: Claim, seeds: int) -> Dict[str, Dict[int, float]]:
    """``{entry: {seed: value}}`` of every measured entry of ``claim``."""
    values: Dict[str, Dict[int, float]] = {}
    for seed in range(seeds):
        if claim.variants:
            found = {name: probe_accuracy(out, variant_of(claim, name), seed)
                     for name in claim.variants}
        else:
            found = localization_results(lite_results_dir(out, seed),
                                         HELD_OUT if claim.key == 'unseen_generator' else None)
        for name, value in found.items():
            if value is not None:
                values.setdefault(name, {})[seed] = value
    return values


def mean_std(values: Sequence[float]) -> Tuple[float, Optional[float]]:
    """Mean and sample standard deviation (``None`` for fewer than two values)."""
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def pooled_std(a: Sequence[float], b: Sequence[float]) -> float:
    """Pooled sample standard deviation of two groups of at least two values each."""
    var_a, var_b = (mean_std(x)[1] ** 2 for x in (a, b))
    return math.sqrt(((len(a) - 1) * var_a + (len(b) - 1) * var_b) / (len(a) + len(b) - 2))


@dataclass
class Verdict:
    """One ``better`` vs ``worse`` comparison: the means, the gap, its noise threshold
    (twice the pooled std; ``None`` with one seed) and the verdict."""

    gap: float
    threshold: Optional[float]
    verdict: str


def decide(better: Sequence[float], worse: Sequence[float], tie: float) -> Verdict:
    """The claim ``better > worse`` against per-seed results.

    With at least two seeds on both sides the claim agrees (disagrees) only when the gap
    of the means exceeds twice the pooled std, else it is within noise. Otherwise there
    is no std: ``|gap| < tie`` is a tie, and the verdict says it rests on one seed.
    """
    gap = mean_std(better)[0] - mean_std(worse)[0]
    if len(better) >= 2 and len(worse) >= 2:
        threshold = 2 * pooled_std(better, worse)
        if abs(gap) > threshold:
            return Verdict(gap, threshold, 'agrees' if gap > 0 else 'DISAGREES')
        return Verdict(gap, threshold, 'within noise')
    if abs(gap) < tie:
        return Verdict(gap, None, f'tie ({ONE_SEED}; |gap| < {tie:g})')
    return Verdict(gap, None, f'{"agrees" if gap > 0 else "DISAGREES"} ({ONE_SEED})')


def format_entry(name: str, values: Sequence[float]) -> str:
    mean, std = mean_std(values)
    spread = f' ± {std:.1f}' if std is not None else ''
    return f'{name} {mean:.1f}{spread} (n={len(values)})'


def claims_report(claims: Sequence[Claim], measured: Dict[str, Dict[str, Dict[int, float]]],
                  seeds: int, tie: float) -> Tuple[List[str], dict]:
    """Markdown lines (a per-variant table and a verdict table) and the JSON record of
    ``measured`` (``{claim key: {entry: {seed: value}}}``)."""
    if seeds > 1:
        rule = (f'{seeds} seeds (0..{seeds - 1}; seed 0 is the demo): mean ± sample std '
                f'per variant; a claim agrees or DISAGREES only when the gap of the means '
                f'exceeds twice the pooled std, else it is within noise.')
    else:
        rule = (f'{ONE_SEED} (the demo\'s single run; `--seeds 3` for a std): '
                f'|gap| < {tie:g} points is reported as a tie; differences of a few points '
                f'are within the split noise of these tiny probes and models.')
    lines = ['## Claims check (paper direction vs this miniature)', '',
             f'SIMULATED data, tiny models, the `paper` family\'s tiny twin. {rule} '
             f'`DISAGREES`: the miniature contradicts the paper\'s direction (printed, '
             f'not hidden).', '',
             '| claim | variant | per seed | mean ± std (n) |', '|---|---|---|---|']
    record: dict = {'seeds': seeds, 'rule': '2 x pooled std' if seeds > 1 else
                    f'one seed: tie < {tie:g}', 'claims': {}}
    verdict_lines = ['| claim | metric | paper | measured | gap | 2 × pooled std | verdict |',
                     '|---|---|---|---|---|---|---|']
    for claim in claims:
        values = measured.get(claim.key, {})
        entry = record['claims'][claim.key] = {'metric': claim.metric, 'variants': {},
                                               'comparisons': []}
        for name in [claim.better, *claim.worse]:
            per_seed = values.get(name, {})
            cells = ', '.join(f'{per_seed[s]:.1f}' if s in per_seed else '–'
                              for s in range(seeds))
            if per_seed:
                mean, std = mean_std(list(per_seed.values()))
                entry['variants'][name] = dict(values={str(s): v for s, v in per_seed.items()},
                                               mean=mean, std=std, n=len(per_seed))
                summary = (f'{mean:.1f} ± {std:.1f} ({len(per_seed)})' if std is not None
                           else f'{mean:.1f} ({ONE_SEED})')
            else:
                summary = 'not measured'
            lines.append(f'| {claim.key} | {name} | {cells} | {summary} |')
        paper = f'{claim.better} > {", ".join(claim.worse)}'
        compared = False
        for other in claim.worse:
            if claim.better not in values or other not in values:
                continue
            compared = True
            better, worse = list(values[claim.better].values()), list(values[other].values())
            result = decide(better, worse, tie)
            entry['comparisons'].append(dict(better=claim.better, worse=other, gap=result.gap,
                                             threshold=result.threshold,
                                             verdict=result.verdict))
            threshold = '–' if result.threshold is None else f'{result.threshold:.1f}'
            verdict_lines.append(
                f'| {claim.text} | {claim.metric} | {paper} | '
                f'{format_entry(claim.better, better)} vs {format_entry(other, worse)} | '
                f'{result.gap:+.1f} | {threshold} | {result.verdict} |')
        if not compared:
            verdict_lines.append(f'| {claim.text} | {claim.metric} | {paper} | '
                                 f'not measured (missing results) | – | – | – |')
    return lines + [''] + verdict_lines, record


def main(argv=None) -> int:
    os.chdir(REPO)
    sys.path.insert(0, REPO)
    sys.path.insert(0, osp.join(REPO, 'tools'))
    args = parse_args(argv)
    from demo_lib import StepFailed, StepRunner
    from dp_plugin.apis.image_io import atomic_write
    claims = [c for c in CLAIMS if not args.only or c.key in args.only]
    plans = [] if args.no_train else [plan_steps(args.demo_out, block, args.seeds,
                                                 args.noiseprint) for block in blocks(claims)]
    groups = [group for steps in plans for group in steps]
    if groups:
        runner = StepRunner(osp.join(args.demo_out, 'logs', 'claims'),
                            total=sum(len(group()) for group in groups), force=args.force,
                            env={'PYTHONPATH': REPO, 'OMP_NUM_THREADS': '1',
                                 'MKL_NUM_THREADS': '1'})
    for group in groups:
        try:
            runner.run_parallel(group(), args.jobs)
        except StepFailed as exc:  # a missing input (no patch set): report, go on
            runner.say(f'claims steps could not be run: {exc}')
    measured = {claim.key: claim_values(args.demo_out, claim, args.seeds) for claim in claims}
    lines, record = claims_report(claims, measured, args.seeds, args.tie)
    for line in lines:
        print(line)
    results = osp.join(args.demo_out, 'results')
    name = osp.join(results, args.results_name)
    os.makedirs(results, exist_ok=True)
    with atomic_write(name + '.json', 'w') as fh:
        json.dump(record, fh, indent=1)
    with atomic_write(name + '.md', 'w') as fh:  # last: the demo's sign of completion
        fh.write('\n'.join(lines) + '\n')
    print(f'wrote {name}.md')
    return 0


if __name__ == '__main__':
    sys.exit(main())
