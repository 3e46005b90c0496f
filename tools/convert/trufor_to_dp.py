"""Convert TruFor checkpoints between the upstream layout and dp_plugin's ``TruFor``.

Upstream -> dp_plugin (the official ``trufor.pth.tar``, or a checkpoint of an upstream
TruFor patched with ``adapters.trufor``)::

    python tools/convert/trufor_to_dp.py trufor.pth.tar work_dirs/trufor_official.pth
    python tools/test.py configs/trufor/trufor_mit-b2_upstream-exact_noiseprintpp_tgif-512x512.py \
        work_dirs/trufor_official.pth

The upstream-exact config (named in the output's ``meta['config']``) reproduces upstream's
maps: upstream's LayerNorm eps and ``/256`` RGB scaling (docs/trufor.md).

dp_plugin -> upstream (e.g. to run a model trained here with upstream ``test.py``)::

    python tools/convert/trufor_to_dp.py --reverse work_dirs/x/iter_4000.pth trufor_dp.pth.tar

The output is written atomically (temporary file + rename). Inputs are read with
:func:`dp_plugin.utils.checkpoint_reader.read_weights` (weights-only): only tensors and
plain containers are accepted.
"""
import argparse
import os
import sys
from datetime import datetime, timezone

#: The config that runs converted official weights as upstream does.
EXACT_CONFIG = 'configs/trufor/trufor_mit-b2_upstream-exact_noiseprintpp_tgif-512x512.py'


def convert(src: str, dst: str, reverse: bool = False) -> int:
    """Convert ``src`` into ``dst``; returns the number of tensors written."""
    from dp_plugin.models.converters.checkpoint_io import load_weights_only, save_checkpoint_atomic
    from dp_plugin.models.converters.trufor_checkpoint import (native_to_upstream, split_checkpoint,
                                                          upstream_to_native)
    from dp_plugin.utils.checkpoint_reader import CheckpointFormatError
    try:
        state_dict, rest = split_checkpoint(load_weights_only(
            src, "a TruFor checkpoint {'state_dict': tensors} (re-save it with only that)"))
        if reverse:
            out = native_to_upstream(state_dict)
            obj = {'epoch': int(rest.get('meta', {}).get('epoch', 0) or 0), 'state_dict': out}
        else:
            out = upstream_to_native(state_dict)
            obj = {'meta': {'converted_from': os.path.basename(src),
                            'converter': 'tools/convert/trufor_to_dp.py',
                            'created': datetime.now(timezone.utc).isoformat(timespec='seconds'),
                            'epoch': rest.get('epoch'), 'config': EXACT_CONFIG},
                   'state_dict': out}
    except (CheckpointFormatError, FileNotFoundError) as exc:
        sys.exit(f'error: {exc}')
    except (KeyError, ValueError) as exc:
        sys.exit(f'error: {src}: {exc}')
    save_checkpoint_atomic(obj, dst)
    return len(out)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='input checkpoint')
    parser.add_argument('dst', help='output checkpoint')
    parser.add_argument('--reverse', action='store_true',
                        help='dp_plugin TruFor -> upstream TruFor layout')
    args = parser.parse_args(argv)
    n = convert(args.src, args.dst, args.reverse)
    direction = 'dp_plugin -> upstream' if args.reverse else 'upstream -> dp_plugin'
    print(f'{direction}: wrote {n} tensors to {args.dst}')
    if not args.reverse:
        print(f'run it as upstream does with {EXACT_CONFIG}')


if __name__ == '__main__':
    main()
