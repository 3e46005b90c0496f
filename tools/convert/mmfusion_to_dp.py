"""Convert an upstream MMFusion checkpoint to dp_plugin's ``MMFusion``.

    python tools/convert/mmfusion_to_dp.py early_fusion_detection.pth work_dirs/mmfusion_official.pth

The input is an official checkpoint (``state_dict`` + ``extractor_state_dict``, phase 1
or phase 2; early or late fusion), or one of an upstream model patched with
``adapters.mmfusion`` (DiffusionPrint in the ``noiseprint`` slot). ``--order`` gives the
modality order of the dp_plugin config you will load it into (slot names, e.g.
``--order srm noiseprint bayar``); by default upstream's order ``noiseprint bayar srm``,
which the configs in configs/mmfusion/ follow. Load the result with
``tools/test.py CONFIG OUT`` (phase-2 configs for detection scores).

The output is written atomically (temporary file + rename). Inputs are read with
``torch.load(weights_only=True)``: only tensors and plain containers are accepted.
"""
import argparse
import os
import sys
from datetime import datetime, timezone

_PHASE_FIELDS = {'val_f1_best': 'localization', 'val_f1_fixed': 'localization',
                 'val_auc': 'detection', 'val_baCC': 'detection'}


def _load(path: str) -> dict:
    from dp_plugin.models.converters.checkpoint_io import load_weights_only
    obj = load_weights_only(path)
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
    from dp_plugin.models.converters.mmfusion_checkpoint import upstream_to_native
    ckpt = _load(src)
    try:
        out = upstream_to_native(ckpt['state_dict'], ckpt['extractor_state_dict'], order)
    except (KeyError, ValueError) as exc:
        sys.exit(f'error: {src}: {exc}')
    metrics = {k: ckpt[k] for k in ('epoch', 'val_loss', *_PHASE_FIELDS)
               if k in ckpt and isinstance(ckpt[k], (int, float))}
    meta = {'converted_from': os.path.basename(src), 'converter': 'tools/convert/mmfusion_to_dp.py',
            'created': datetime.now(timezone.utc).isoformat(timespec='seconds'),
            'upstream_phase': upstream_phase(ckpt), 'upstream_metrics': metrics,
            'num_tensors': len(out)}
    save_checkpoint_atomic({'meta': meta, 'state_dict': out}, dst)
    return meta


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='upstream MMFusion checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint for dp_plugin')
    parser.add_argument('--order', nargs='+', metavar='SLOT',
                        help='modality slots in the order of the target config '
                             '(noiseprint, bayar, srm, diffusionprint)')
    args = parser.parse_args(argv)
    meta = convert(args.src, args.dst, args.order)
    print(f"upstream MMFusion ({meta['upstream_phase']} phase) -> dp_plugin: wrote "
          f"{meta['num_tensors']} tensors to {args.dst}")


if __name__ == '__main__':
    main()
