"""Export a pretrained DiffusionPrint backbone for the ``DiffusionPrint`` modality.

    python tools/export_backbone.py work_dirs/diffusionprint_tiny_cpu/epoch_6.pth \
        diffusionprint_tiny.safetensors [--config CONFIG] [--encoder online|momentum]

Writes the DnCNN weights (plain ``0.weight ...`` keys) and JSON metadata
(architecture, pixel_divisor 255, input_highpass, generators, source config).
"""
import argparse
import json
import sys

from dp_plugin.pretrain.export import export_backbone


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('checkpoint', help='pretraining checkpoint (epoch_N.pth) or any '
                                           'format the modality loader reads')
    parser.add_argument('out', help='output .safetensors')
    parser.add_argument('--config', help='training config (default: the one stored in '
                                         'the checkpoint)')
    parser.add_argument('--encoder', choices=['online', 'momentum'], default='online')
    parser.add_argument('--generators', nargs='*', help='override the training generators')
    parser.add_argument('--input-highpass', type=float,
                        help='override the high-pass cut-off the backbone expects')
    args = parser.parse_args(argv)
    try:
        meta = export_backbone(args.checkpoint, args.out, args.config, args.encoder,
                               args.generators, args.input_highpass)
    except (OSError, ValueError, KeyError) as err:
        msg = ' '.join(str(err).split())  # one line, as dp-localize prints it
        print(f'error: {msg if args.checkpoint in msg else f"{args.checkpoint}: {msg}"}',
              file=sys.stderr)
        return 2
    print(f'wrote {args.out}')
    print(json.dumps(meta, indent=1, sort_keys=True))
    return 0


if __name__ == '__main__':
    sys.exit(main())
