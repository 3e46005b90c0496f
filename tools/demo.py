#!/usr/bin/env python
"""The end-to-end demo (``make demo``): simulated data -> tiny DiffusionPrint
pretraining -> export -> Lite Baseline with DP / SRM (/ NP++) -> evaluation ->
``OUT/REPORT.md``.

Every step runs one of the project's tools as a subprocess (log in ``OUT/logs``) and is
skipped when its outputs exist, so an interrupted demo resumes. ``--dry-run`` prints
the plan and which tools are missing.

    python tools/demo.py --out demo_out
"""
import argparse
import glob
import os
import os.path as osp
import sys
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
NOISEPRINT = osp.join(REPO, '..', 'shared', 'weights', 'noiseprint++', 'noiseprint++.th')
TIME_TARGET_S = 15 * 60
PROBE_COLUMNS = ('overall', 'in_domain', 'held_out', 'majority_baseline')
LITE_CONFIG = 'configs/lite_baseline/lite-baseline_mit-b0-tiny_{}_sim-128x128.py'
PRETRAIN_CONFIG = 'configs/pretrain/diffusionprint_tiny_cpu.py'
#: model label -> (modality token of the Lite Baseline config, short name of the outputs);
#: OUT/models/lite_dp is dp-localize's default model (localize_cli.DEFAULT_MODEL_DIR).
MODELS = {'DP': ('diffusionprint', 'dp'), 'SRM': ('srm', 'srm'), 'NP++': ('noiseprintpp', 'npp')}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='demo_out')
    parser.add_argument('--force', action='store_true', help='re-run finished steps')
    parser.add_argument('--dry-run', action='store_true', help='print the plan only')
    parser.add_argument('--no-claims', action='store_true', help='skip tools/check_claims.py')
    parser.add_argument('--n-maps', type=int, default=4, help='rows of the qualitative grid')
    return parser.parse_args()


class Plan:
    """The demo's paths and steps."""

    def __init__(self, out: str) -> None:
        self.out = out
        self.data = osp.join(out, 'data')
        self.loc = osp.join(self.data, 'localization')
        self.patches = osp.join(self.data, 'pretrain_patches')
        self.work = osp.join(out, 'work')
        self.results = osp.join(out, 'results')
        self.export = osp.join(out, 'models', 'diffusionprint_tiny.safetensors')
        self.spectra = osp.join(out, 'figures', 'spectra.png')
        self.models = [m for m in MODELS if m != 'NP++' or osp.isfile(NOISEPRINT)]

    def data_options(self):
        return ['--cfg-options'] + [f'{split}_dataloader.dataset.data_root={self.loc}'
                                    for split in ('train', 'val', 'test')]

    def modality_options(self, model: str):
        if model == 'DP':
            return [f'model.modality.checkpoint={self.export}']
        if model == 'NP++':
            return [f'model.modality.checkpoint={NOISEPRINT}']
        return []

    def model_dir(self, model: str) -> str:
        return osp.join(self.out, 'models', f'lite_{MODELS[model][1]}')

    def steps(self):
        """Yield the steps in order (callables: later steps see earlier outputs)."""
        from dp_plugin.apis.demo import Action, Step, latest_checkpoint
        yield lambda: Step('simulate', ['tools/simulate.py', '--out', self.data, '--seed', '0',
                                        '--no-progress'],
                           outputs=[osp.join(self.loc, 'meta.json'),
                                    osp.join(self.data, 'pretrain', 'manifest.jsonl')],
                           needs=['tools/simulate.py'])
        yield lambda: Step('patches', ['tools/build_patches.py',
                                       osp.join(self.data, 'pretrain', 'manifest.jsonl'),
                                       self.patches, '--patch-size', '32', '--no-progress'],
                           outputs=[osp.join(self.patches, '*.csv')],
                           needs=['tools/build_patches.py'])
        pretrain_dir = osp.join(self.work, 'pretrain_dp')
        yield lambda: Step('pretrain', ['tools/train.py', PRETRAIN_CONFIG, '--work-dir',
                                        pretrain_dir, '--cfg-options',
                                        f'train_dataloader.dataset.data_root={self.patches}'],
                           outputs=[osp.join(pretrain_dir, 'epoch_*.pth')],
                           needs=['tools/train.py', PRETRAIN_CONFIG])
        yield lambda: Step('export', ['tools/export_backbone.py',
                                      latest_checkpoint(pretrain_dir), self.export],
                           outputs=[self.export], needs=['tools/export_backbone.py'])
        yield lambda: Step('spectra', ['tools/spectra.py', osp.join(self.data, 'pretrain'),
                                       '--out', self.spectra, '--no-progress'],
                           outputs=[self.spectra], needs=['tools/spectra.py'], optional=True)
        yield lambda: Step('linear_probe', ['tools/linear_probe.py', self.export, self.patches,
                                            '--out', osp.join(self.results,
                                                              'linear_probe.json')],
                           outputs=[osp.join(self.results, 'linear_probe.json')],
                           needs=['tools/linear_probe.py'], optional=True)
        for model in self.models:
            config = LITE_CONFIG.format(MODELS[model][0])
            work = osp.join(self.work, f'lite_{MODELS[model][1]}')
            per_image = osp.join(self.results, f'lite_{MODELS[model][1]}_per_image.json')
            yield lambda c=config, w=work, m=model: Step(
                f'train_lite_{MODELS[m][1]}',
                ['tools/train.py', c, '--work-dir', w, *self.data_options(),
                 *self.modality_options(m)],
                outputs=[osp.join(w, 'best_*.pth')], needs=['tools/train.py', c])
            yield lambda c=config, w=work, m=model, p=per_image: Step(
                f'test_lite_{MODELS[m][1]}',
                ['tools/test.py', c, latest_checkpoint(w, 'best_*.pth'), '--work-dir',
                 osp.join(w, 'test'), '--out', p, *self.data_options(),
                 *self.modality_options(m)],
                outputs=[p], needs=['tools/test.py'])
            yield lambda w=work, m=model: Action(
                f'install_lite_{MODELS[m][1]}', lambda: install_model(w, self.model_dir(m)),
                outputs=[osp.join(self.model_dir(m), 'best.pth'),
                         osp.join(self.model_dir(m), 'config.py')])


def install_model(work_dir: str, target: str) -> None:
    """Copy a trained model to ``target/{config.py,best.pth}`` (plain state dict): the
    layout ``dp-localize`` uses by default for ``demo_out/models/lite_dp``."""
    import torch

    from dp_plugin.apis.demo import latest_checkpoint
    from dp_plugin.apis.image_io import atomic_write
    from dp_plugin.apis.inference import load_state_dict_safely
    checkpoint = latest_checkpoint(work_dir, 'best_*.pth')
    configs = glob.glob(osp.join(work_dir, '*.py'))  # the config the runner dumped
    if not osp.isfile(checkpoint) or not configs:
        raise FileNotFoundError(f'no trained model (best_*.pth + dumped config) in {work_dir}')
    os.makedirs(target, exist_ok=True)
    state = load_state_dict_safely(checkpoint)
    with atomic_write(osp.join(target, 'best.pth')) as fh:
        torch.save(state, fh)
    with atomic_write(osp.join(target, 'config.py'), 'w') as fh, open(configs[0]) as src:
        fh.write(src.read())


def qualitative_rows(loc_root: str, models, model_dirs, out: str, n: int):
    """Pick ``n`` forged test images (one per generator first) and map them with every
    model through ``dp-localize``; rows for :func:`qualitative_grid`."""
    from dp_plugin.apis.localize_cli import main as localize
    picks = []
    for listing in sorted(glob.glob(osp.join(loc_root, 'lists', 'testing_*_segm.txt'))):
        with open(listing) as fh:
            first = fh.readline().split()
        if len(first) >= 2 and first[1] != 'None':
            generator = osp.basename(listing)[len('testing_'):-len('_segm.txt')]
            picks.append((generator, osp.join(loc_root, first[0]),
                          osp.join(loc_root, first[1])))
    picks = picks[:n]
    images = [image for _, image, _ in picks]
    rows = [dict(title=generator, image=image, mask=mask, maps={})
            for generator, image, mask in picks]
    for model in models:
        maps = osp.join(out, 'maps', f'lite_{MODELS[model][1]}')
        localize([*images, '-o', maps, '--config', osp.join(model_dirs[model], 'config.py'),
                  '--checkpoint', osp.join(model_dirs[model], 'best.pth'), '--no-overlay'])
        base = osp.commonpath([osp.dirname(osp.abspath(i)) for i in images])
        for row, image in zip(rows, images):
            row['maps'][model] = osp.join(maps, osp.relpath(osp.abspath(image), base) + '.npz')
    return rows


def write_report(plan: Plan, runner, figures: dict) -> str:
    from dp_plugin.apis.demo import f1_table, flat_table, load_json
    per_image = {m: load_json(osp.join(plan.results, f'lite_{MODELS[m][1]}_per_image.json'))
                 for m in plan.models}
    per_image = {m: rows for m, rows in per_image.items() if rows}
    total = time.perf_counter() - runner.start
    lines = ['# dp-plugin demo report', '',
             'Everything below was produced by `make demo` on this machine from simulated '
             'data (no downloads): miniature versions of the paper\'s experiments, not '
             'its numbers.', '',
             f'Time of this run: {total / 60:.1f} min (target for a fresh run: '
             f'{TIME_TARGET_S // 60} min; finished steps of earlier runs are skipped).', '']
    lines += ['## Localization F1 (%, per-image mean over forged test images)', '',
              'F1@0.5: the map thresholded at 0.5; F1-best: the best threshold per image '
              '(oracle, as often reported).', '']
    lines += [f1_table(per_image) if per_image else '_no evaluation results_', '']
    probe = load_json(osp.join(plan.results, 'linear_probe.json'))
    lines += ['## Linear probe of the pretrained DiffusionPrint backbone', '']
    lines += ['Accuracy (%) of a linear classifier on the frozen patch features '
              '(`tools/linear_probe.py`); `majority_baseline`: always the most frequent class.',
              '']
    lines += [flat_table({'DiffusionPrint (tiny)': probe},
                         [k for k in PROBE_COLUMNS if k in probe]) if probe else
              '_linear probe not available_', '']
    for title, path in figures.items():
        if path and osp.isfile(path):
            lines += [f'## {title}', '', f'![{title}]({osp.relpath(path, plan.out)})', '']
    claims = osp.join(plan.results, 'claims.md')
    if osp.isfile(claims):
        with open(claims) as fh:
            lines += [fh.read(), '']
    lines += ['## Steps', '', '| step | status | seconds |', '|---|---|---|']
    lines += [f'| {name} | {status} | {seconds:.0f} |'
              for name, (status, seconds) in runner.results.items()]
    return '\n'.join(lines) + '\n'


def main() -> int:
    args = parse_args()
    os.chdir(REPO)
    sys.path.insert(0, REPO)
    from dp_plugin.apis.demo import Action, Step, StepFailed, StepRunner, qualitative_grid
    from dp_plugin.apis.image_io import atomic_write
    plan = Plan(args.out)
    makers = list(plan.steps())
    runner = StepRunner(osp.join(args.out, 'logs'), total=len(makers) + 2, force=args.force,
                        env={'PYTHONPATH': REPO, 'OMP_NUM_THREADS': '2'})
    if args.dry_run:
        for make in makers:
            step = make()
            if isinstance(step, Step):
                missing = [p for p in step.needs if not osp.exists(p)]
                print(f'{step.name:<22} {" ".join(step.cmd)}'
                      + (f'   MISSING {missing}' if missing else ''))
            else:
                print(f'{step.name:<22} (in-process) -> {", ".join(step.outputs)}')
        return 0
    runner.say(f'dp-plugin demo -> {args.out} (models: {", ".join(plan.models)}; '
               f'NP++ {"found" if "NP++" in plan.models else "not found, skipped"})')
    try:
        for make in makers:
            step = make()
            runner.run(step) if isinstance(step, Step) else runner.call(step)
        grid = osp.join(args.out, 'figures', 'qualitative.png')
        model_dirs = {m: plan.model_dir(m) for m in plan.models}
        runner.call(Action('qualitative_maps', lambda: qualitative_grid(
            qualitative_rows(plan.loc, plan.models, model_dirs, args.out, args.n_maps),
            plan.models, grid), outputs=[grid]))
        if not args.no_claims:
            runner.run(Step('claims', ['tools/check_claims.py', '--demo-out', args.out],
                            outputs=[osp.join(plan.results, 'claims.md')],
                            needs=['tools/check_claims.py'], optional=True))
    except StepFailed as exc:
        runner.say(f'demo stopped: {exc}')
        return 1
    report = osp.join(args.out, 'REPORT.md')
    with atomic_write(report, 'w') as fh:
        fh.write(write_report(plan, runner, {
            'Radial spectra of real and generated data (paper Fig. 3)': plan.spectra,
            'Qualitative maps (input | ground truth | maps)': grid}))
    runner.say(f'report: {report}; try: dp-localize {plan.loc}/simps-fr/testing -o maps/')
    return 0


if __name__ == '__main__':
    sys.exit(main())
