"""``dp-simulate`` / ``tools/simulate.py``: write the simulated pretraining and localization sets."""
import argparse
import os
import os.path as osp
import time

from .generators import GENERATORS, HELDOUT_GENERATORS, TRAIN_GENERATORS


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
    p.add_argument('--no-progress', action='store_true')
    p.add_argument('--overwrite', action='store_true', help='allow writing into an existing dataset folder')
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    from .writers import build_localization_set, build_pretrain_set
    parts = [args.only] if args.only else ['pretrain', 'localization']
    for part in parts:
        if osp.exists(osp.join(args.out, part, 'meta.json')) and not args.overwrite:
            raise SystemExit(f'{osp.join(args.out, part)} already holds a dataset; pass --overwrite '
                             f'or choose another --out')
    t0 = time.time()
    summary = {}
    if 'pretrain' in parts:
        summary['pretrain'] = build_pretrain_set(
            osp.join(args.out, 'pretrain'), n_real=args.n_real, n_generated=args.n_generated,
            generators=args.generators, size=args.size, seed=args.seed, progress=not args.no_progress)
    if 'localization' in parts:
        summary['localization'] = build_localization_set(
            osp.join(args.out, 'localization'), n_train=args.n_train, n_val=args.n_val, n_test=args.n_test,
            generators=args.loc_generators, variations=args.variations, size=args.size, seed=args.seed,
            progress=not args.no_progress)
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
