"""Command line of ``dp-localize``: the parser and every check that needs no model.

Standard library only, so ``dp-localize --help`` and usage errors answer at once:
:func:`launch`, the ``dp-localize`` console script, checks the command line before
anything imports torch or mmseg (``import dp_plugin`` and ``dp_plugin.apis`` load their
contents on first use).
The defaults mirror the library's (``apis.inference.DEFAULT_TILE``,
``apis.image_io.DEFAULT_MAX_PIXELS``, ``utils.model_home`` ...; a test keeps them equal).
"""
import argparse
import time
from typing import Optional, Sequence

#: Sliding-window size and overlap (``apis.inference.DEFAULT_TILE[_OVERLAP]``).
DEFAULT_TILE = 1024
DEFAULT_TILE_OVERLAP = 128
#: Decompression-bomb guard in MPix (``apis.image_io.DEFAULT_MAX_PIXELS / 1e6``).
DEFAULT_MAX_MPIX = 100.0
#: Minimum shorter image side (``apis.image_io.DEFAULT_MIN_SIZE``).
DEFAULT_MIN_SIZE = 32
#: The model home (``dp_plugin.utils.model_home.HOME_ENV`` / ``DEFAULT_HOME`` /
#: ``DEFAULT_MODEL``), for the help text.
HOME_ENV = 'DP_PLUGIN_HOME'
DEFAULT_HOME = '~/.cache/dp_plugin'
DEFAULT_MODEL = 'models/lite_dp'
#: Smallest accepted ``--tile``: below it the MiT / DnCNN stages have no spatial extent
#: left (MiT downsamples by 32; the forensic extractors' receptive field is ~35 px).
MIN_TILE = 64


def _int_at_least(low: int, what: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'{what} must be an integer, got {text!r}') from None
        if value < low:
            raise argparse.ArgumentTypeError(f'{what} must be >= {low}, got {value}')
        return value
    return parse


def _float_in(low: float, high: float, what: str, open_low: bool = False):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'{what} must be a number, got {text!r}') from None
        if not (low < value if open_low else low <= value) or not value <= high:
            bracket = '(' if open_low else '['
            raise argparse.ArgumentTypeError(f'{what} must be in {bracket}{low:g}, {high:g}], '
                                             f'got {text}')
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    """The ``dp-localize`` argument parser."""
    parser = argparse.ArgumentParser(
        prog='dp-localize', description='Localize inpainted / forged regions in images '
        'with a trained dp_plugin model (Lite Baseline, TruFor, MMFusion). '
        'See docs/localize.md.')
    parser.add_argument('inputs', nargs='*', help='image files, folders (searched '
                        'recursively) or glob patterns (quote them: "photos/**/*.jpg")')
    parser.add_argument('-o', '--out', default='localize_out', help='output folder; every '
                        'output stays inside it (default: %(default)s)')
    parser.add_argument('--config', help='model config (default: the installed model, '
                        f'${HOME_ENV}/{DEFAULT_MODEL}/config.py with ${HOME_ENV} defaulting '
                        f'to {DEFAULT_HOME}; written by `make demo` or --install-model)')
    parser.add_argument('--checkpoint', help='model weights, .pth or .safetensors '
                        '(default: best.pth beside the default config)')
    parser.add_argument('--install-model', action='store_true', help='copy --config and '
                        '--checkpoint to the default model location first (inputs optional)')
    parser.add_argument('--device', default=None, help='torch device (default: cuda if '
                        'available, else cpu)')
    parser.add_argument('--threads', type=_int_at_least(1, '--threads'), default=None,
                        help='CPU threads of torch (default: torch\'s choice)')
    parser.add_argument('--precision', choices=('fp32', 'bf16'), default='fp32',
                        help='arithmetic of the DnCNN modalities and the model: bf16 is about '
                        '2x faster on CPUs with AVX512-BF16/AMX and on GPUs, maps within ~5e-3 '
                        '(docs/modalities.md; default: %(default)s)')
    parser.add_argument('--threshold', type=_float_in(0.0, 1.0, '--threshold'), default=0.5,
                        help='binary mask threshold on the forgery map (default: %(default)s)')
    parser.add_argument('--tile', type=_int_at_least(0, '--tile'), default=DEFAULT_TILE,
                        help=f'sliding-window size (>= {MIN_TILE}) for images larger than '
                        'it; 0 = keep the config\'s test_cfg (default: %(default)s)')
    parser.add_argument('--tile-overlap', type=_int_at_least(0, '--tile-overlap'),
                        default=DEFAULT_TILE_OVERLAP,
                        help='overlap of neighbouring windows, < --tile (default: %(default)s)')
    parser.add_argument('--max-mpix', type=_float_in(0.0, 1e4, '--max-mpix', open_low=True),
                        default=DEFAULT_MAX_MPIX, help='refuse images with more megapixels '
                        '(decompression-bomb guard; default: %(default)g)')
    parser.add_argument('--min-size', type=_int_at_least(1, '--min-size'),
                        default=DEFAULT_MIN_SIZE, help='refuse images whose shorter side is '
                        'smaller (default: %(default)s px)')
    parser.add_argument('--masks', nargs='+', action='extend', metavar='FOLDER_OR_LIST',
                        help='ground truth: folders of masks (same relative path and stem '
                        '+ --mask-suffix, or TGIF/TGIF2 names: {id}_mask_{type}_{S}.png '
                        'for {id}_mask_{type}.png_{gen}-{S}_{var}.png) and/or '
                        'TruFor/MMFusion list files ("image mask label" lines); adds F1 / '
                        'best F1 / IoU and the mean F1 per generator x mask type')
    parser.add_argument('--mask-suffix', default='', help='suffix of mask stems, e.g. '
                        '"_mask" (default: none)')
    parser.add_argument('--overwrite', action='store_true', help='recompute images whose '
                        'outputs exist and match this run')
    parser.add_argument('--save-modality', action='store_true', help='also store the '
                        'model\'s 1-channel modality view in the .npz (key "np++")')
    parser.add_argument('--no-overlay', action='store_true', help='skip the figure')
    parser.add_argument('--cfg-options', nargs='+', metavar='KEY=VALUE', help='override '
                        'config keys, e.g. model.test_cfg.mode=whole')
    return parser


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse and validate ``argv``; a bad option exits with status 2 and one message."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.install_model and not (args.config and args.checkpoint):
        parser.error('--install-model needs --config and --checkpoint')
    if not args.inputs and not args.install_model:
        parser.error('the following arguments are required: inputs')
    if args.tile and args.tile < MIN_TILE:
        parser.error(f'--tile must be 0 (no tiling) or >= {MIN_TILE}, got {args.tile}')
    if args.tile and args.tile_overlap >= args.tile:
        parser.error(f'--tile-overlap must be < --tile ({args.tile}), got {args.tile_overlap}')
    for option in args.cfg_options or ():
        if '=' not in option or option.startswith('='):
            parser.error(f'--cfg-options expects KEY=VALUE, got {option!r}')
    if args.config and not args.checkpoint:
        parser.error('--config given without --checkpoint')
    if not args.out.strip():
        parser.error('-o/--out must not be empty')
    return args


def launch(argv: Optional[Sequence[str]] = None) -> int:
    """Parse ``argv``, then import the package and run (``dp-localize``'s entry point);
    returns the exit status."""
    started = time.perf_counter()
    args = parse_args(argv)
    from dp_plugin.apis.localize_cli import run
    return run(args, started)
