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
import tempfile
from datetime import datetime, timezone

import torch


def _load(path: str):
    if not os.path.isfile(path):
        sys.exit(f'error: {path}: no such file')
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # noqa: BLE001 - report any unpickling refusal clearly
        sys.exit(f'error: {path}: cannot be read as a weights-only checkpoint ({exc}). '
                 'Re-save it with only "state_dict" (tensors) in it.')


def _save_atomic(obj, path: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp_', suffix='.pth')
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def convert(src: str, dst: str, reverse: bool = False) -> int:
    """Convert ``src`` into ``dst``; returns the number of tensors written."""
    from dp_plugin.models.utils.trufor_checkpoint import (native_to_upstream, split_checkpoint,
                                                          upstream_to_native)
    try:
        state_dict, rest = split_checkpoint(_load(src))
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
    _save_atomic(obj, dst)
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
