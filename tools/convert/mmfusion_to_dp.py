"""Convert an upstream MMFusion checkpoint to dp_plugin's ``MMFusion``.

    python tools/convert/mmfusion_to_dp.py early_fusion_detection.pth work_dirs/mmfusion_official.pth
    python tools/convert/mmfusion_to_dp.py --reverse work_dirs/x/epoch_100.pth mmfusion_dp.pth

The input is an official checkpoint (``state_dict`` + ``extractor_state_dict``, phase 1
or phase 2; early or late fusion), or one of an upstream model patched with
``adapters.mmfusion`` (DiffusionPrint in the ``noiseprint`` slot). ``--order`` gives the
modality order of the dp_plugin config you will load it into (slot names, e.g.
``--order srm noiseprint bayar``); by default upstream's order ``noiseprint bayar srm``,
which the configs in configs/mmfusion/ follow. Load the result with
``tools/test.py CONFIG OUT``; the upstream-exact config named in ``meta['config']`` (and
printed) reproduces upstream's maps (upstream's LayerNorm eps and ``/256`` RGB scaling,
docs/mmfusion.md). ``--reverse`` writes a dp_plugin MMFusion checkpoint in upstream's
layout (``state_dict`` + ``extractor_state_dict``, upstream modality order).

The output is written atomically (temporary file + rename). Inputs are read with
:func:`dp_plugin.utils.checkpoint_reader.read_weights` (weights-only): only tensors and
plain containers are accepted.
"""
import argparse
import os
import sys
from datetime import datetime, timezone

#: Upstream-exact configs (upstream modality order, Noiseprint++ + Bayar + SRM), by
#: late fusion yes/no; they run phase-1 and phase-2 checkpoints alike.
EXACT_CONFIGS = {
    False: ('configs/mmfusion/'
            'mmfusion-early_mit-b2_npp-bayar-srm_tgif-512x512_phase2_upstream-exact.py'),
    True: 'configs/mmfusion/mmfusion-late_mit-b2_npp-bayar-srm_tgif-512x512_upstream-exact.py',
}
_PHASE_FIELDS = {'val_f1_best': 'localization', 'val_f1_fixed': 'localization',
                 'val_auc': 'detection', 'val_baCC': 'detection'}


def _read(path: str):
    """The checkpoint at ``path``; exits with one line when it cannot be read safely."""
    from dp_plugin.models.converters.checkpoint_io import load_weights_only
    from dp_plugin.utils.checkpoint_reader import CheckpointFormatError
    try:
        return load_weights_only(path)
    except (CheckpointFormatError, FileNotFoundError) as exc:
        sys.exit(f'error: {exc}')


def _load(path: str) -> dict:
    """The upstream MMFusion checkpoint at ``path`` (exits when it is not one)."""
    obj = _read(path)
    if not isinstance(obj, dict) or not isinstance(obj.get('state_dict'), dict) or \
            not isinstance(obj.get('extractor_state_dict'), dict):
        found = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        sys.exit(f'error: {path}: expected an MMFusion checkpoint with "state_dict" and '
                 f'"extractor_state_dict", found {found}')
    return obj


def upstream_phase(ckpt: dict) -> str:
    """``'localization'`` (phase 1) or ``'detection'`` (phase 2) from the saved fields."""
    phases = {_PHASE_FIELDS[k] for k in ckpt if k in _PHASE_FIELDS}
    return phases.pop() if len(phases) == 1 else 'unknown'


def convert(src: str, dst: str, order=None) -> dict:
    """Convert ``src`` into ``dst``; returns the written ``meta``."""
    from dp_plugin.models.converters.checkpoint_io import save_checkpoint_atomic
    from dp_plugin.models.converters.mmfusion_checkpoint import (UPSTREAM_ORDER,
                                                                 upstream_to_native)
    ckpt = _load(src)
    try:
        out = upstream_to_native(ckpt['state_dict'], ckpt['extractor_state_dict'], order)
    except (KeyError, ValueError) as exc:
        sys.exit(f'error: {src}: {exc}')
    metrics = {k: ckpt[k] for k in ('epoch', 'val_loss', *_PHASE_FIELDS)
               if k in ckpt and isinstance(ckpt[k], (int, float))}
    late = any(k.startswith('backbone.extra.0.') for k in out)
    slots = sorted({k.split('.')[1] for k in out if k.startswith('modal_extractor.')})
    upstream_set = slots == sorted(UPSTREAM_ORDER) and order in (None, list(UPSTREAM_ORDER))
    meta = {'converted_from': os.path.basename(src), 'converter': 'tools/convert/mmfusion_to_dp.py',
            'created': datetime.now(timezone.utc).isoformat(timespec='seconds'),
            'upstream_phase': upstream_phase(ckpt), 'upstream_metrics': metrics,
            'num_tensors': len(out), 'config': EXACT_CONFIGS[late] if upstream_set else None}
    save_checkpoint_atomic({'meta': meta, 'state_dict': out}, dst)
    return meta


def reverse(src: str, dst: str) -> int:
    """Write the dp_plugin MMFusion checkpoint ``src`` in upstream's layout; returns #tensors."""
    from dp_plugin.models.converters.checkpoint_io import save_checkpoint_atomic
    from dp_plugin.models.converters.mmfusion_checkpoint import native_to_upstream
    obj = _read(src)
    state = obj.get('state_dict') if isinstance(obj, dict) else None
    if not isinstance(state, dict):
        sys.exit(f'error: {src}: expected a dp_plugin checkpoint with "state_dict"')
    try:
        sd, ext = native_to_upstream(state)
    except (KeyError, ValueError) as exc:
        sys.exit(f'error: {src}: {exc}')
    epoch = obj.get('meta', {}).get('epoch', 0) if isinstance(obj.get('meta'), dict) else 0
    save_checkpoint_atomic({'epoch': epoch, 'state_dict': sd, 'extractor_state_dict': ext}, dst)
    return len(sd) + len(ext)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='upstream MMFusion checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint for dp_plugin')
    parser.add_argument('--order', nargs='+', metavar='SLOT',
                        help='modality slots in the order of the target config '
                             '(noiseprint, bayar, srm, diffusionprint)')
    parser.add_argument('--reverse', action='store_true',
                        help='dp_plugin MMFusion -> upstream MMFusion layout')
    args = parser.parse_args(argv)
    if args.reverse:
        if args.order:
            parser.error('--order applies to upstream -> dp_plugin only')
        n = reverse(args.src, args.dst)
        print(f'dp_plugin -> upstream MMFusion: wrote {n} tensors to {args.dst}')
        return
    meta = convert(args.src, args.dst, args.order)
    print(f"upstream MMFusion ({meta['upstream_phase']} phase) -> dp_plugin: wrote "
          f"{meta['num_tensors']} tensors to {args.dst}")
    if meta['config']:
        print(f"run it as upstream does with {meta['config']}")


if __name__ == '__main__':
    main()
