"""Build DiffusionPrint patch pairs from an inpainting manifest.

    python tools/build_patches.py data/sim/pretrain/manifest.jsonl data/sim/pretrain_patches \
        [--patch-size 64] [--grid 4 4] [--inside-min 0.5] [--outside-max 0] [--jobs N]

Writes ``patches.dat`` (uint8 memmap (N, P, P, 3)), ``patches.csv`` (the authors' index
columns) and ``meta.json`` (shape, options, counts per category, the paper formulas'
counts, images/s and the projected time of the paper's 40 000-image Dragon layout).
Re-running the same command on a killed build resumes it. See docs/pretraining.md.
"""
import argparse
import os
import sys

from dp_plugin.pretrain.patch_builder import BuildOptions, build_patches, format_summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('manifest', help='manifest.jsonl (or .csv with the same columns)')
    parser.add_argument('out_dir', help='output folder of the patch set')
    parser.add_argument('--patch-size', type=int, default=64)
    parser.add_argument('--grid', type=int, nargs=2, default=(4, 4), metavar=('ROWS', 'COLS'))
    parser.add_argument('--inside-min', type=float, default=0.5,
                        help='mask coverage from which an inside-mask grid position is used '
                             '(0: all M x N positions)')
    parser.add_argument('--outside-max', type=float, default=0.0,
                        help='mask coverage up to which a real patch counts as pristine')
    parser.add_argument('--jobs', type=int, default=len(os.sched_getaffinity(0)),
                        help='extraction processes (default: every core, %(default)s); the '
                             'output does not depend on it')
    parser.add_argument('--commit-every', type=int, default=32,
                        help='images between progress commits (resume points)')
    parser.add_argument('--no-progress', action='store_true')
    args = parser.parse_args(argv)
    opts = BuildOptions(patch_size=args.patch_size, grid=tuple(args.grid),
                        inside_min=args.inside_min, outside_max=args.outside_max)
    try:
        summary = build_patches(args.manifest, args.out_dir, opts,
                                commit_every=args.commit_every,
                                progress=not args.no_progress, jobs=args.jobs)
    except (OSError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(format_summary(summary))
    return 0


if __name__ == '__main__':
    sys.exit(main())
