"""Linear probe of a frozen DiffusionPrint backbone on a CSV + memmap patch set.

    python tools/linear_probe.py diffusionprint_tiny.safetensors data/sim/probe_patches \
        --train-generators simnn simbl simtc [--out probe.json]

Frozen GAP embeddings of every patch -> logistic regression real vs generated on a
70/30 split (by image by default); prints overall, in-domain, held-out and
per-generator accuracy and saves them as JSON.
"""
import argparse
import sys

from dp_plugin.pretrain.linear_probe import (embed_patches, format_probe, linear_probe,
                                             load_frozen_encoder)
from dp_plugin.pretrain.patch_builder import write_json_atomic
from dp_plugin.pretrain.patch_index import load_patch_index


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('checkpoint', help='export (.safetensors) or pretraining checkpoint')
    parser.add_argument('data_root', help='patch set folder (index CSV + memmap)')
    parser.add_argument('--ann-file', default='patches.csv')
    parser.add_argument('--data-file', default='patches.dat')
    parser.add_argument('--patch-size', type=int, help='default: meta.json, else 64')
    parser.add_argument('--train-generators', nargs='*', default=None,
                        help='generators seen in pretraining (default: the export metadata)')
    parser.add_argument('--pooling', choices=['gap', 'flatten'], default='gap')
    parser.add_argument('--split-by', choices=['image', 'patch'], default='image')
    parser.add_argument('--test-frac', type=float, default=0.3)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--batch-size', type=int, default=256)
    parser.add_argument('--random-init', action='store_true',
                        help='same architecture, untrained weights (the reference a '
                             'trained backbone must beat)')
    parser.add_argument('--out', help='write the result as JSON here')
    args = parser.parse_args(argv)
    try:
        gens = args.train_generators
        if gens is None:
            from dp_plugin.modalities.export_format import read_export_metadata
            gens = read_export_metadata(args.checkpoint).get('generators', []) \
                if args.checkpoint.endswith('.safetensors') else []
        encoder = load_frozen_encoder(args.checkpoint, args.random_init, args.seed)
        index = load_patch_index(args.data_root, args.ann_file, args.data_file,
                                 args.patch_size)
        feats = embed_patches(encoder, index, args.batch_size, args.pooling)
        result = linear_probe(feats, index, gens, args.test_frac, args.seed, args.split_by)
    except (OSError, ValueError, KeyError) as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)  # one line
        return 2
    result.update(checkpoint=args.checkpoint, data_root=args.data_root, pooling=args.pooling,
                  random_init=args.random_init)
    print(format_probe(result))
    if args.out:
        write_json_atomic(args.out, result)
        print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
