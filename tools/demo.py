#!/usr/bin/env python
"""The end-to-end demo (``make demo``): simulated data -> tiny DiffusionPrint
pretraining -> export -> Lite Baseline with DP / SRM (/ NP++) -> evaluation -> claims
check -> ``OUT/REPORT.md``.

Every step runs one of the project's tools as a subprocess (log in ``OUT/logs``), single
threaded, at most ``--jobs`` at once, and is skipped when its outputs exist, so an
interrupted demo resumes; ``--force`` re-runs everything. Each step's wall and CPU time
go into the report. ``--dry-run`` prints the plan and which tools are missing.

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
PRETRAIN_CONFIG = 'configs/pretrain/diffusionprint_tiny_demo.py'
#: The demo's simulated data: smaller than tools/simulate.py's defaults so the whole
#: demo fits the CPU budget (see docs/demo.md for the measured step times).
SIMULATE_SIZES = ('--n-real', '60', '--n-generated', '24', '--n-train', '48', '--n-val', '8',
                  '--n-test', '16')
#: The linear probe's own simulated set: other seed and crops than the pretraining set, and
#: it includes the held-out generator simps.
PROBE_SET = ('--only', 'pretrain', '--seed', '1', '--generators', 'simnn', 'simbl', 'simtc',
             'simps', '--n-real', '30', '--n-generated', '12', '--jobs', '1')
PRETRAIN_CLAIMS = ('pairing', 'cls_head', 'augmentation')
#: model label -> (modality token of the Lite Baseline config, short name of the outputs);
#: OUT/models/lite_dp and the DiffusionPrint export are installed in the model home
#: (dp_plugin.utils.model_home): dp-localize's default model and the configs' DP weights.
MODELS = {'DP': ('diffusionprint', 'dp'), 'SRM': ('srm', 'srm'), 'NP++': ('noiseprintpp', 'npp')}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='demo_out')
    parser.add_argument('--force', action='store_true', help='re-run finished steps')
    parser.add_argument('--dry-run', action='store_true', help='print the plan only')
    parser.add_argument('--no-claims', action='store_true', help='skip tools/check_claims.py')
    parser.add_argument('--jobs', type=int, default=2,
                        help='steps run at once (default %(default)s: one per core of a '
                             '2-core machine; every step is single-threaded)')
    parser.add_argument('--noiseprint', default=NOISEPRINT,
                        help='Noiseprint++ weights (noiseprint++.th): a third Lite Baseline '
                             'is trained with them when the file exists (default: '
                             '../shared/weights/noiseprint++/noiseprint++.th; "" for none)')
    parser.add_argument('--n-maps', type=int, default=4, help='rows of the qualitative grid')
    return parser.parse_args(argv)


class Plan:
    """The demo's paths and steps."""

    def __init__(self, out: str, claims: bool = True, n_maps: int = 4,
                 noiseprint: str = NOISEPRINT, force: bool = False) -> None:
        self.out = out
        self.force = force
        self.noiseprint = noiseprint
        self.claims = claims
        self.n_maps = n_maps
        self.data = osp.join(out, 'data')
        self.loc = osp.join(self.data, 'localization')
        self.patches = osp.join(self.data, 'pretrain_patches')
        self.probe_data = osp.join(self.data, 'probe')
        self.probe_patches = osp.join(self.data, 'probe_patches')
        self.work = osp.join(out, 'work')
        self.results = osp.join(out, 'results')
        self.export = osp.join(out, 'models', 'diffusionprint_tiny.safetensors')
        self.spectra = osp.join(out, 'figures', 'spectra.png')
        self.grid = osp.join(out, 'figures', 'qualitative.png')
        self.models = [m for m in MODELS if m != 'NP++' or osp.isfile(noiseprint or '')]

    def data_options(self):
        return ['--cfg-options'] + [f'{split}_dataloader.dataset.data_root={self.loc}'
                                    for split in ('train', 'val', 'test')]

    def modality_options(self, model: str):
        if model == 'DP':  # absolute: the installed default model must not read the cwd
            return [f'model.modality.checkpoint={osp.abspath(self.export)}']
        if model == 'NP++':
            return [f'model.modality.checkpoint={osp.abspath(self.noiseprint)}']
        return []

    def model_dir(self, model: str) -> str:
        return osp.join(self.out, 'models', f'lite_{MODELS[model][1]}')

    def per_image(self, model: str) -> str:
        return osp.join(self.results, f'lite_{MODELS[model][1]}_per_image.json')

    def lite_work(self, model: str) -> str:
        return osp.join(self.work, f'lite_{MODELS[model][1]}')

    # ------------------------------------------------------------------ steps
    def train_lite(self, model: str):
        from demo_lib import Step
        config, work = LITE_CONFIG.format(MODELS[model][0]), self.lite_work(model)
        return Step(f'train_lite_{MODELS[model][1]}',
                    ['tools/train.py', config, '--work-dir', work, *self.data_options(),
                     *self.modality_options(model)],
                    outputs=[osp.join(work, 'best_*.pth')], needs=['tools/train.py', config])

    def test_lite(self, model: str):
        from demo_lib import Step, latest_checkpoint
        config, work = LITE_CONFIG.format(MODELS[model][0]), self.lite_work(model)
        return Step(f'test_lite_{MODELS[model][1]}',
                    ['tools/test.py', config, latest_checkpoint(work, 'best_*.pth'),
                     '--work-dir', osp.join(work, 'test'), '--out', self.per_image(model),
                     *self.data_options(), *self.modality_options(model)],
                    outputs=[self.per_image(model)], needs=['tools/test.py'])

    def install_lite(self, model: str):
        """Copy a trained Lite Baseline to OUT/models; the DP one and the DiffusionPrint
        export also become the defaults of dp-localize and of the configs (model home)."""
        from demo_lib import Action
        from dp_plugin.utils import model_home
        target = self.model_dir(model)
        outputs = [osp.join(target, 'best.pth'), osp.join(target, 'config.py')]
        if model != 'DP':
            return Action(f'install_lite_{MODELS[model][1]}',
                          lambda: install_model(self.lite_work(model), target), outputs=outputs)

        def install_dp() -> None:
            install_model(self.lite_work(model), target)
            model_home.install_model(osp.join(target, 'config.py'), osp.join(target, 'best.pth'))
            model_home.install_file(self.export, model_home.DP_TINY_WEIGHTS)
        home = [*model_home.default_model(), model_home.home_path(model_home.DP_TINY_WEIGHTS)]
        return Action('install_lite_dp', install_dp, outputs=[*outputs, *home])

    def claims_step(self, only=None, force: bool = False):
        from demo_lib import Step
        name = 'claims_pretraining' if only else 'claims'
        # one seed (no std; labelled so in the table) keeps the demo within its time target
        cmd = ['tools/check_claims.py', '--demo-out', self.out, '--jobs', '2', '--seeds', '1']
        if only:  # the pretraining variants; their outputs make the final check quick
            cmd += ['--only', *only, '--results-name', 'claims_pretraining',
                    *(['--force'] if force else [])]
        # the final check only reads results (its variants are done): it always runs, so
        # that a model added on a re-run (e.g. NP++) is compared too
        outputs = [osp.join(self.results, f'{name}.md')] if only else []
        return Step(name, cmd, outputs=outputs, needs=['tools/check_claims.py'], optional=True)

    def stages(self):
        """Groups of steps in order; the steps of one group are independent and may run
        at once. Groups are callables so that later groups see earlier outputs."""
        from demo_lib import Action, Step, latest_checkpoint
        pretrain_dir = osp.join(self.work, 'pretrain_dp')
        baselines = [m for m in self.models if m != 'DP']
        yield lambda: [Step('simulate', ['tools/simulate.py', '--out', self.data, '--seed', '0',
                                         *SIMULATE_SIZES, '--no-progress', '--overwrite'],
                            outputs=[osp.join(self.loc, 'meta.json'),
                                     osp.join(self.data, 'pretrain', 'manifest.jsonl')],
                            needs=['tools/simulate.py']),
                       Step('simulate_probe_set', ['tools/simulate.py', '--out', self.probe_data,
                                                   *PROBE_SET, '--no-progress',
                                                   '--overwrite'],
                            outputs=[osp.join(self.probe_data, 'pretrain', 'manifest.jsonl')],
                            needs=['tools/simulate.py'])]
        yield lambda: [
            Step('patches', ['tools/build_patches.py',
                             osp.join(self.data, 'pretrain', 'manifest.jsonl'),
                             self.patches, '--patch-size', '32', '--no-progress'],
                 outputs=[osp.join(self.patches, 'meta.json')], fresh=[self.patches],
                 needs=['tools/build_patches.py']),
            Step('probe_patches', ['tools/build_patches.py',
                                   osp.join(self.probe_data, 'pretrain', 'manifest.jsonl'),
                                   self.probe_patches, '--patch-size', '32', '--no-progress'],
                 outputs=[osp.join(self.probe_patches, 'meta.json')],
                 fresh=[self.probe_patches], needs=['tools/build_patches.py']),
            Step('spectra', ['tools/spectra.py', osp.join(self.data, 'pretrain'),
                             '--out', self.spectra, '--no-progress'],
                 outputs=[self.spectra], needs=['tools/spectra.py'], optional=True)]
        # SRM's training does not need the pretrained model: overlap them (NP++, the longest
        # step, goes with the DP training below so that both cores stay busy)
        yield lambda: [Step('pretrain', ['tools/train.py', PRETRAIN_CONFIG, '--work-dir',
                                         pretrain_dir, '--cfg-options',
                                         f'train_dataloader.dataset.data_root={self.patches}'],
                            outputs=[osp.join(pretrain_dir, 'epoch_*.pth')],
                            needs=['tools/train.py', PRETRAIN_CONFIG]),
                       *[self.train_lite(m) for m in baselines if m == 'SRM']]
        yield lambda: [Step('export', ['tools/export_backbone.py',
                                       latest_checkpoint(pretrain_dir), self.export],
                            outputs=[self.export], needs=['tools/export_backbone.py'])]
        yield lambda: [self.train_lite('DP'),
                       *[self.train_lite(m) for m in baselines if m != 'SRM'],
                       Step('linear_probe', ['tools/linear_probe.py', self.export,
                                             self.probe_patches, '--out',
                                             osp.join(self.results, 'linear_probe.json')],
                            outputs=[osp.join(self.results, 'linear_probe.json')],
                            needs=['tools/linear_probe.py'], optional=True),
                       self.test_lite('SRM'),
                       *([self.claims_step(PRETRAIN_CLAIMS, self.force)] if self.claims
                         else [])]
        yield lambda: [self.test_lite(m) for m in self.models if m != 'SRM']
        yield lambda: [self.install_lite(m) for m in self.models]
        yield lambda: [Action('qualitative_maps', self.qualitative_maps, outputs=[
            self.grid, *[osp.join(self.out, 'maps', f'lite_{MODELS[m][1]}') for m in self.models]])]
        if self.claims:
            yield lambda: [self.claims_step()]

    def qualitative_maps(self) -> None:
        from demo_lib import qualitative_grid
        model_dirs = {m: self.model_dir(m) for m in self.models}
        rows = qualitative_rows(self.loc, self.models, model_dirs, self.out, self.n_maps)
        qualitative_grid(rows, self.models, self.grid)


def count_steps(plan: Plan) -> int:
    """Number of steps of the plan (for ``[k/N]``) without building them."""
    return 9 + 3 * len(plan.models) + 2 * plan.claims


def install_model(work_dir: str, target: str) -> None:
    """Copy a trained model to ``target/{config.py,best.pth}`` (plain state dict), the
    layout of dp-localize's default model in the model home."""
    import torch

    from demo_lib import latest_checkpoint
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
    """Pick ``n`` forged test images (one per generator, different source images) and map
    them with every model through ``dp-localize``; rows for :func:`qualitative_grid`."""
    from dp_plugin.apis.localize_cli import main as localize
    picks = []
    listings = sorted(glob.glob(osp.join(loc_root, 'lists', 'testing_*_segm.txt')))
    for k, listing in enumerate(listings):  # the k-th source image for the k-th generator
        with open(listing) as fh:
            lines = [line.split() for line in fh if len(line.split()) >= 2]
        lines = [fields for fields in lines if fields[1] != 'None']
        if lines:
            fields = lines[k % len(lines)]
            generator = osp.basename(listing)[len('testing_'):-len('_segm.txt')]
            picks.append((generator, osp.join(loc_root, fields[0]),
                          osp.join(loc_root, fields[1])))
    picks = picks[:n]
    images = [image for _, image, _ in picks]
    rows = [dict(title=generator, image=image, mask=mask, maps={})
            for generator, image, mask in picks]
    for model in models:
        maps = osp.join(out, 'maps', f'lite_{MODELS[model][1]}')
        localize([*images, '-o', maps, '--config', osp.join(model_dirs[model], 'config.py'),
                  '--checkpoint', osp.join(model_dirs[model], 'best.pth'), '--no-overlay',
                  '--overwrite', '--threads', '1'])
        base = osp.commonpath([osp.dirname(osp.abspath(i)) for i in images])
        for row, image in zip(rows, images):
            row['maps'][model] = osp.join(maps, osp.relpath(osp.abspath(image), base) + '.npz')
    return rows


def all_forged_rows(loc_root: str):
    """Per-image F1 of the trivial map that calls every pixel forged, for the forged test
    images (the reference a model must beat; an all-zero map scores F1@0.5 = 0)."""
    from dp_plugin.apis.image_io import read_mask
    rows = []
    for listing in sorted(glob.glob(osp.join(loc_root, 'lists', 'testing_*_*.txt'))):
        parts = osp.basename(listing)[:-4].split('_')
        if len(parts) != 3:  # testing_auth.txt
            continue
        with open(listing) as fh:
            for line in fh:
                fields = line.split()
                if len(fields) < 2 or fields[1] == 'None':
                    continue
                mask = read_mask(osp.join(loc_root, fields[1]))
                forged = float((mask > 0).sum())
                f1 = 2 * forged / (forged + mask.size) if forged else 0.0
                rows.append(dict(generator=parts[1], mask_type=parts[2], label=1, f1=f1,
                                 f1_best=f1))
    return rows


def write_report(plan: Plan, runner) -> str:
    from demo_lib import f1_table, flat_table, load_json, step_table
    per_image = {m: load_json(plan.per_image(m)) for m in plan.models}
    per_image = {m: rows for m, rows in per_image.items() if rows}
    if per_image:
        per_image['all-forged map'] = all_forged_rows(plan.loc)
    lines = ['# dp-plugin demo report', '',
             '**All data here are SIMULATED** (`tools/simulate.py`: tiny project-trained '
             'latent autoencoders `sim*` standing in for diffusion inpainting; no downloads). '
             'The numbers are miniature versions of the paper\'s experiments on 2 CPU cores: '
             'a smoke test of the method and the code, not the paper\'s results.', '']
    lines += ['## Localization F1 (%, per-image mean over forged test images)', '',
              'F1@0.5: the map thresholded at 0.5; F1-best: the best threshold per image '
              '(oracle, as often reported). `all-forged map`: the trivial map that calls '
              'every pixel forged (an all-zero map scores F1@0.5 = 0); a model localizes '
              'only where it beats this reference. `simps` is held out of the '
              'DiffusionPrint pretraining.', '']
    lines += [f1_table(per_image) if per_image else '_no evaluation results_', '']
    probe = load_json(osp.join(plan.results, 'linear_probe.json'))
    lines += ['## Linear probe of the pretrained DiffusionPrint backbone', '',
              'Accuracy (%) of a linear classifier real vs generated on the frozen patch '
              'features (`tools/linear_probe.py`), on a separate simulated probe set (other '
              'seed and crops than the pretraining set), split 70/30 by image. `in_domain`: '
              'real + the pretraining generators; `held_out`: the generated patches of '
              '`simps`, never seen in pretraining; `majority_baseline`: always the most '
              'frequent class (chance).', '']
    lines += [flat_table({'DiffusionPrint (tiny)': probe},
                         [k for k in PROBE_COLUMNS if k in probe]) if probe else
              '_linear probe not available_', '']
    figures = {'Radial spectra of real and generated data (paper Fig. 3)': plan.spectra,
               'Qualitative maps (input | ground truth | maps), forged test images':
               plan.grid}
    for title, path in figures.items():
        if osp.isfile(path):
            lines += [f'## {title}', '', f'![{title}]({osp.relpath(path, plan.out)})', '']
    # the demo's own one-seed table, then any multi-seed table of tools/check_claims.py
    for claims in [osp.join(plan.results, 'claims.md'),
                   *sorted(glob.glob(osp.join(plan.results, 'claims_*seeds.md')))]:
        if osp.isfile(claims):
            with open(claims) as fh:
                lines += [fh.read(), '']
    wall = time.perf_counter() - runner.start
    fresh_cpu = sum(r.cpu for r in runner.results.values())
    lines += ['## Steps', '',
              f'This run: {wall / 60:.1f} min wall, {runner.cpu_total() / 60:.1f} min CPU '
              f'(user + system of the steps it ran). Sum over all steps, each as it last '
              f'ran: {fresh_cpu / 60:.1f} min CPU (close to a fresh run\'s cost; a step '
              f'resumed half-way counts only its last part). Steps run two at a time, '
              f'single-threaded; target for a fresh run: {TIME_TARGET_S // 60} min wall on '
              f'an idle 2-core machine. On a busy machine wall time mostly measures waiting; '
              f'CPU time is what a step costs.', '',
              step_table(runner.results), '']
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    args = parse_args(argv)
    os.chdir(REPO)
    sys.path.insert(0, REPO)
    from demo_lib import Step, StepFailed, StepRunner
    from dp_plugin.apis.image_io import atomic_write
    plan = Plan(args.out, claims=not args.no_claims, n_maps=args.n_maps,
                noiseprint=args.noiseprint, force=args.force)
    runner = StepRunner(osp.join(args.out, 'logs'), total=count_steps(plan), force=args.force,
                        env={'PYTHONPATH': REPO, 'OMP_NUM_THREADS': '1',
                             'MKL_NUM_THREADS': '1'})
    if args.dry_run:
        for stage in plan.stages():
            for step in stage():
                if isinstance(step, Step):
                    missing = [p for p in step.needs if not osp.exists(p)]
                    print(f'{step.name:<22} {" ".join(step.cmd)}'
                          + (f'   MISSING {missing}' if missing else ''))
                else:
                    print(f'{step.name:<22} (in-process) -> {", ".join(step.outputs)}')
        return 0
    runner.say(f'dp-plugin demo -> {args.out} (SIMULATED data; models: '
               f'{", ".join(plan.models)}; NP++ '
               f'{"found" if "NP++" in plan.models else "weights not found, skipped"}; '
               f'{args.jobs} steps at a time)')
    code = 0
    try:
        for stage in plan.stages():
            steps = stage()
            processes = [s for s in steps if isinstance(s, Step)]
            if processes:
                runner.run_parallel(processes, jobs=args.jobs)
            for action in steps:
                if not isinstance(action, Step):
                    runner.call(action)
    except StepFailed as exc:
        runner.say(f'demo stopped: {exc}')
        code = 1
    report = osp.join(args.out, 'REPORT.md')
    with atomic_write(report, 'w') as fh:
        fh.write(write_report(plan, runner))
    runner.say(f'{"partial " if code else ""}report: {report} '
               f'({runner.cpu_total() / 60:.1f} CPU-min in this run)')
    if not code:
        from dp_plugin.utils.model_home import model_home
        runner.say(f'default model and DiffusionPrint weights installed in {model_home()} '
                   '($DP_PLUGIN_HOME)')
        runner.say(f'try: dp-localize {plan.loc}/simps-fr/testing -o maps/')
    return code


if __name__ == '__main__':
    sys.exit(main())
