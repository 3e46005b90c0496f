#!/usr/bin/env python
"""Paper Fig. 3 for any dataset in the pretraining layout (simulated or real).

Radial power spectra in the normalised band [0.2, 0.5] of real src / real regen / gen src /
gen inpainted patches, one panel per generator, written as a PNG; prints the band powers.

    python tools/spectra.py data/sim/pretrain --out work_dirs/spectra.png
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('root', help='folder holding manifest.jsonl (e.g. X/pretrain)')
    p.add_argument('--out', default='spectra.png', help='PNG to write')
    p.add_argument('--patch', type=int, default=0, help='patch size (0: min(64, side/4))')
    p.add_argument('--bins', type=int, default=16)
    p.add_argument('--max-records', type=int, default=0, help='use only the first N manifest records')
    p.add_argument('--no-progress', action='store_true')
    args = p.parse_args(argv)

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from dp_plugin.simulate.spectra import PATCH_TYPES, dataset_spectra
    from dp_plugin.utils import atomic_write
    res = dataset_spectra(args.root, patch=args.patch, nbins=args.bins, max_records=args.max_records,
                          progress=not args.no_progress)
    gens = sorted(res['generators'])
    if not gens:
        raise SystemExit(f'no usable patches found in {args.root}')
    styles = {'real src': ('tab:blue', '-'), 'real regen': ('tab:blue', '--'),
              'gen src': ('tab:red', '-'), 'gen inpainted': ('tab:red', '--')}
    fig, axes = plt.subplots(1, len(gens), figsize=(4.2 * len(gens), 3.6), squeeze=False, sharey=True)
    print(f'mean radial power in [0.2, 0.5] ({args.root}):')
    print(f'{"generator":<12}' + ''.join(f'{t:>16}' for t in PATCH_TYPES) + f'{"regen/src":>11}')
    for ax, gen in zip(axes[0], gens):
        d = res['generators'][gen]
        for t in PATCH_TYPES:
            if t in d:
                c, ls = styles[t]
                ax.semilogy(res['freqs'], d[t]['mean'], color=c, ls=ls, label=f"{t} (n={d[t]['n']})")
        ax.set_title(gen)
        ax.set_xlabel('normalised radial frequency')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        cells = ''.join(f"{d[t]['band_power']:>16.3e}" if t in d else f'{"-":>16}' for t in PATCH_TYPES)
        ratio = (d['real regen']['band_power'] / d['real src']['band_power']) if 'real src' in d else float('nan')
        print(f'{gen:<12}{cells}{ratio:>11.3f}')
    axes[0][0].set_ylabel('power')
    fig.suptitle(f'Radial power spectra, band [0.2, 0.5]: {osp.basename(osp.normpath(args.root))}')
    fig.tight_layout()
    with atomic_write(args.out) as fh:
        fig.savefig(fh, dpi=110, format='png')
    plt.close(fig)
    if res['skipped']:
        print(f"{len(res['skipped'])} records skipped (unreadable); see messages above")
    print(f'figure written to {args.out}')
    return res


if __name__ == '__main__':
    main()
