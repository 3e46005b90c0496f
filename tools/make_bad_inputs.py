#!/usr/bin/env python
"""Write the bad-input test corpus (see tools/bad_input_corpus.py).

Example: ``python tools/make_bad_inputs.py work_dirs/bad_inputs`` then
``dp-localize work_dirs/bad_inputs/images --masks work_dirs/bad_inputs/masks``.
"""
import argparse
import os
import sys

from bad_input_corpus import make_bad_input_corpus


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out', help='new (or empty) folder to write the corpus into')
    args = parser.parse_args()
    if os.path.isdir(args.out) and os.listdir(args.out):
        parser.error(f'{args.out} exists and is not empty')
    expected = make_bad_input_corpus(args.out)
    bad = sum(e['outcome'] == 'error' for e in expected.values())
    print(f'{len(expected)} inputs ({len(expected) - bad} to process, {bad} to report) '
          f'in {args.out}/images, masks in {args.out}/masks, expectations in '
          f'{args.out}/expected.json')
    return 0


if __name__ == '__main__':
    sys.exit(main())
