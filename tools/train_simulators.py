#!/usr/bin/env python
"""Re-train the simulated generators (simnn, simbl, simtc, simps) deterministically on CPU.

    python tools/train_simulators.py                 # all four, into dp_plugin/simulate/weights
    python tools/train_simulators.py --only simps --out-dir /tmp/w
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from dp_plugin.simulate.generators import GENERATORS, WEIGHTS_DIR  # noqa: E402
from dp_plugin.simulate.training import train_generator  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out-dir', default=WEIGHTS_DIR, help='where to write {name}.safetensors')
    p.add_argument('--only', nargs='+', choices=sorted(GENERATORS), default=list(GENERATORS))
    p.add_argument('--steps', type=int, default=300)
    args = p.parse_args(argv)
    for name in args.only:
        train_generator(name, osp.join(args.out_dir, f'{name}.safetensors'), steps=args.steps)


if __name__ == '__main__':
    main()
