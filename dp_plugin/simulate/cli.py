"""``dp-simulate`` / ``tools/simulate.py``: write the simulated pretraining and localization sets."""
import argparse
import json
import os
import os.path as osp
import shutil
import time

from .names import GENERATORS, HELDOUT_GENERATORS, TRAIN_GENERATORS


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog='dp-simulate',
        description='Write the SIMULATED DiffusionPrint datasets (tiny project-trained latent autoencoders, '
                    'no SD/FLUX): X/pretrain (pretraining source set) and X/localization (TGIF FR layout).')
    p.add_argument('--out', required=True, help='output folder X')
    p.add_argument('--seed', type=int, default=0, help='same seed -> bit-identical files')
    p.add_argument('--size', type=int, default=128, help='crop size S in pixels (multiple of 16)')
    p.add_argument('--only', choices=('pretrain', 'localization'), help='write only one of the two sets')
    p.add_argument('--generators', nargs='+', default=list(TRAIN_GENERATORS), choices=sorted(GENERATORS),
                   help='generators of the pretraining set (default: the training ones)')
    p.add_argument('--loc-generators', nargs='+', default=list(TRAIN_GENERATORS + HELDOUT_GENERATORS),
                   choices=sorted(GENERATORS), help='generators of the localization set (default: all four)')
    p.add_argument('--n-real', type=int, default=160, help='real images of the pretraining set')
    p.add_argument('--n-generated', type=int, default=48, help='generated images per generator (pretraining)')
    p.add_argument('--n-train', type=int, default=96, help='localization source images, training split')
    p.add_argument('--n-val', type=int, default=16, help='localization source images, validation split')
    p.add_argument('--n-test', type=int, default=32, help='localization source images, testing split')
    p.add_argument('--variations', type=int, default=1, help='regenerations per image, mask and generator')
    p.add_argument('--jobs', type=int, default=2, choices=(1, 2),
                   help='2: build the two sets in parallel processes (one core each)')
    p.add_argument('--no-progress', action='store_true')
    p.add_argument('--overwrite', action='store_true',
                   help='replace an existing simulated dataset in --out (its folder is deleted first)')
    return p.parse_args(argv)


def run(argv=None) -> dict:
    """Parse ``argv``, write the datasets, print a summary and return it."""
    args = parse_args(argv)
    from .writers import build_localization_set, build_pretrain_set
    parts = [args.only] if args.only else ['pretrain', 'localization']
    for part in parts:
        folder = osp.join(args.out, part)
        if not osp.exists(osp.join(folder, 'meta.json')):
            continue
        if not args.overwrite:
            raise SystemExit(f'{folder} already holds a dataset; pass --overwrite or choose another --out')
        with open(osp.join(folder, 'meta.json')) as f:
            if not json.load(f).get('simulated'):
                raise SystemExit(f'{folder} holds a dataset not written by the simulator; not overwriting it')
        shutil.rmtree(folder)  # a smaller rebuild must not leave stale files behind
    t0 = time.time()
    parallel = args.jobs > 1 and len(parts) > 1
    jobs = {}
    if 'pretrain' in parts:
        jobs['pretrain'] = (build_pretrain_set, dict(
            out=osp.join(args.out, 'pretrain'), n_real=args.n_real, n_generated=args.n_generated,
            generators=args.generators, size=args.size, seed=args.seed))
    if 'localization' in parts:
        jobs['localization'] = (build_localization_set, dict(
            out=osp.join(args.out, 'localization'), n_train=args.n_train, n_val=args.n_val, n_test=args.n_test,
            generators=args.loc_generators, variations=args.variations, size=args.size, seed=args.seed))
    summary = {}
    if parallel:  # every item is seeded on its own: the files do not depend on the schedule
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(len(jobs), mp_context=mp.get_context('fork')) as pool:
            futs = {k: pool.submit(fn, progress=False if args.no_progress else i, **kw)
                    for i, (k, (fn, kw)) in enumerate(jobs.items())}
            summary = {k: f.result() for k, f in futs.items()}
    else:
        summary = {k: fn(progress=not args.no_progress, **kw) for k, (fn, kw) in jobs.items()}
    summary['seconds'] = round(time.time() - t0, 1)
    nfiles = sum(len(f) for _, _, f in os.walk(args.out))
    print(f'SIMULATED data (no SD/FLUX weights) written to {args.out} in {summary["seconds"]} s, {nfiles} files')
    if 'pretrain' in summary:
        s = summary['pretrain']
        print(f'  pretrain/: {s["real"]} real x {len(s["generators"])} generators + {s["generated"]} generated '
              f'-> {s["records"]} manifest records ({", ".join(s["generators"])}); manifest: '
              f'{osp.join(args.out, "pretrain", "manifest.jsonl")}')
    if 'localization' in summary:
        s = summary['localization']
        print(f'  localization/: {s["sources"]} source images, {s["fr_images"]} fully regenerated images '
              f'({", ".join(s["generators"])}); lists in {osp.join(args.out, "localization", "lists")}')
    return summary


def main(argv=None) -> None:
    """Console entry point ``dp-simulate`` (exit status 0 on success)."""
    run(argv)
