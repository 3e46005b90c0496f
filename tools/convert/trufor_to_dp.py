"""Convert TruFor checkpoints between the upstream layout and dp_plugin's ``TruFor``.

Upstream -> dp_plugin (the official ``trufor.pth.tar``, or a checkpoint of an upstream
TruFor patched with ``adapters.trufor``)::

    python tools/convert/trufor_to_dp.py trufor.pth.tar work_dirs/trufor_official.pth

dp_plugin -> upstream (e.g. to run a model trained here with upstream ``test.py``)::

    python tools/convert/trufor_to_dp.py --reverse work_dirs/x/iter_4000.pth trufor_dp.pth.tar

The output is written atomically (temporary file + rename). Inputs are read with
``torch.load(weights_only=True)``: only tensors and plain containers are accepted.
"""
import argparse
import os
import sys
from datetime import datetime, timezone


def convert(src: str, dst: str, reverse: bool = False) -> int:
    """Convert ``src`` into ``dst``; returns the number of tensors written."""
    from dp_plugin.models.converters.checkpoint_io import load_weights_only, save_checkpoint_atomic
    from dp_plugin.models.converters.trufor_checkpoint import (native_to_upstream, split_checkpoint,
                                                          upstream_to_native)
    try:
        state_dict, rest = split_checkpoint(load_weights_only(
            src, ' Re-save it with only "state_dict" (tensors) in it.'))
        if reverse:
            out = native_to_upstream(state_dict)
            obj = {'epoch': int(rest.get('meta', {}).get('epoch', 0) or 0), 'state_dict': out}
        else:
            out = upstream_to_native(state_dict)
            obj = {'meta': {'converted_from': os.path.basename(src),
                            'converter': 'tools/convert/trufor_to_dp.py',
                            'created': datetime.now(timezone.utc).isoformat(timespec='seconds'),
                            'epoch': rest.get('epoch')},
                   'state_dict': out}
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


if __name__ == '__main__':
    main()
