"""``dp-localize``: forgery maps for images, folders and globs with any trained model.

Per image (``rel`` = path relative to the common folder of the inputs)::

    OUT/rel.npz          TruFor-compatible: map, imgsize (+ conf, score if the model has them)
    OUT/rel.mask.png     binary mask, white = forged (map > --threshold)
    OUT/rel.overlay.png  image | map | overlay (| confidence) figure with a colour bar
    OUT/summary.json     one record per input: status, error, score, forged fraction, timing
    OUT/summary.csv      the same records as a table

Every file is written atomically; existing outputs are skipped unless ``--overwrite``,
so a killed run resumes. One line per failed input; exit status 1 if any failed,
2 for usage errors (bad options, model cannot be loaded). See ``docs/localize.md``.
"""
import argparse
import csv
import glob
import io
import json
import math
import os
import os.path as osp
import sys
import time
from datetime import datetime, timezone
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .image_io import (DEFAULT_MAX_PIXELS, DEFAULT_MIN_SIZE, IMAGE_EXTENSIONS,
                       ImageReadError, atomic_write, read_image, read_mask,
                       remove_stale_temp_files)
from .inference import DEFAULT_TILE, DEFAULT_TILE_OVERLAP

from ..utils import model_home

OUTPUT_SUFFIXES = {'npz': '.npz', 'mask': '.mask.png', 'overlay': '.overlay.png'}
SUMMARY_FIELDS = ('input', 'output', 'status', 'error', 'width', 'height', 'score',
                  'map_max', 'forged_fraction', 'seconds', 'infer_seconds', 'notes', 'mask',
                  'f1', 'f1_best', 'iou')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(
        prog='dp-localize', description='Localize inpainted / forged regions in images '
        'with a trained dp_plugin model (Lite Baseline, TruFor, MMFusion).')
    parser.add_argument('inputs', nargs='*', help='image files, folders (searched '
                        'recursively) or glob patterns (quote them: "photos/**/*.jpg")')
    parser.add_argument('-o', '--out', default='localize_out', help='output folder '
                        '(default: %(default)s)')
    parser.add_argument('--config', help='model config (default: the installed model, '
                        f'${model_home.HOME_ENV}/{model_home.DEFAULT_MODEL}/config.py with '
                        f'${model_home.HOME_ENV} defaulting to {model_home.DEFAULT_HOME}; '
                        'written by `make demo` or --install-model)')
    parser.add_argument('--checkpoint', help='model weights, .pth or .safetensors '
                        '(default: best.pth beside the default config)')
    parser.add_argument('--install-model', action='store_true', help='copy --config and '
                        '--checkpoint to the default model location first (inputs optional)')
    parser.add_argument('--device', default=None, help='torch device (default: cuda if '
                        'available, else cpu)')
    parser.add_argument('--threads', type=int, default=None, help='CPU threads of torch '
                        '(default: torch\'s choice)')
    parser.add_argument('--threshold', type=float, default=0.5, help='binary mask '
                        'threshold on the forgery map (default: %(default)s)')
    parser.add_argument('--tile', type=int, default=DEFAULT_TILE, help='sliding-window '
                        'size for images larger than it; 0 = keep the config\'s test_cfg '
                        '(default: %(default)s)')
    parser.add_argument('--tile-overlap', type=int, default=DEFAULT_TILE_OVERLAP,
                        help='overlap of neighbouring windows (default: %(default)s)')
    parser.add_argument('--max-mpix', type=float, default=DEFAULT_MAX_PIXELS / 1e6,
                        help='refuse images with more megapixels (decompression-bomb '
                        'guard; default: %(default)g)')
    parser.add_argument('--min-size', type=int, default=DEFAULT_MIN_SIZE,
                        help='refuse images whose shorter side is smaller (default: '
                        '%(default)s px)')
    parser.add_argument('--masks', help='folder of ground-truth masks (same relative '
                        'path and stem as the image, any image extension, plus '
                        '--mask-suffix); adds F1 / best F1 / IoU to the summary')
    parser.add_argument('--mask-suffix', default='', help='suffix of mask stems, e.g. '
                        '"_mask" (default: none)')
    parser.add_argument('--overwrite', action='store_true', help='recompute images whose '
                        'outputs exist')
    parser.add_argument('--save-modality', action='store_true', help='also store the '
                        'model\'s modality summary in the .npz (TruFor: key "np++")')
    parser.add_argument('--no-overlay', action='store_true', help='skip the figure')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override '
                        'config keys, e.g. model.test_cfg.mode=whole')
    args = parser.parse_args(argv)
    if args.install_model and not (args.config and args.checkpoint):
        parser.error('--install-model needs --config and --checkpoint')
    if not args.inputs and not args.install_model:
        parser.error('the following arguments are required: inputs')
    if not 0.0 <= args.threshold <= 1.0:
        parser.error(f'--threshold must be in [0, 1], got {args.threshold}')
    if args.tile < 0 or (args.tile and not 0 <= args.tile_overlap < args.tile):
        parser.error('--tile must be >= 0 and --tile-overlap in [0, --tile)')
    return args


# ------------------------------------------------------------------ input discovery
def _has_magic(pattern: str) -> bool:
    return any(c in pattern for c in '*?[')


def _scan_folder(folder: str, exclude: Optional[str], problems: List[Tuple[str, str, str]]
                 ) -> List[str]:
    """Image files under ``folder`` (sorted; hidden entries, ``exclude`` and folder
    loops skipped)."""
    found, seen = [], set()

    def walk(path: str) -> None:
        try:
            st = os.stat(path)
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            problems.append((path, 'error', f'cannot read folder: {exc.strerror or exc}'))
            return
        if (st.st_dev, st.st_ino) in seen:
            problems.append((path, 'skipped', 'symbolic link loop: folder already visited'))
            return
        seen.add((st.st_dev, st.st_ino))
        for entry in entries:
            if entry.name.startswith('.'):
                continue
            if exclude is not None and osp.realpath(entry.path) == exclude:
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir:
                walk(entry.path)
            elif osp.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
                found.append(entry.path)

    walk(folder)
    return found


def collect_inputs(inputs: Sequence[str], exclude: Optional[str] = None
                   ) -> Tuple[List[Tuple[str, str]], List[Tuple[str, str, str]]]:
    """Resolve files, folders and globs.

    Returns ``(items, problems)``: ``items`` are ``(path, rel)`` with ``rel`` relative
    to the common folder of all inputs; ``problems`` are ``(path, status, message)``
    for inputs that are not images to process (``status`` 'error' or 'skipped').
    """
    exclude = osp.realpath(exclude) if exclude else None
    files, roots, problems = [], [], []
    for arg in inputs:
        if osp.isdir(arg):
            roots.append(arg)
            files += _scan_folder(arg, exclude, problems)
        elif osp.lexists(arg):
            roots.append(osp.dirname(arg) or '.')
            files.append(arg)
        elif _has_magic(arg):
            prefix = []
            for part in arg.split(os.sep):
                if _has_magic(part):
                    break
                prefix.append(part)
            roots.append(os.sep.join(prefix) or ('/' if arg.startswith(os.sep) else '.'))
            matches = sorted(glob.glob(arg, recursive=True))
            if not matches:
                problems.append((arg, 'error', 'the pattern matches no file'))
            for match in matches:
                if osp.isdir(match):
                    files += _scan_folder(match, exclude, problems)
                elif exclude is None or not osp.realpath(match).startswith(exclude + os.sep):
                    files.append(match)
        else:
            problems.append((arg, 'error', 'no such file or folder'))
    base = osp.commonpath([osp.abspath(r) for r in roots]) if roots else os.getcwd()
    items, seen = [], set()
    for path in files:
        absolute = osp.abspath(path)
        if absolute not in seen:
            seen.add(absolute)
            items.append((path, osp.relpath(absolute, base)))
    return items, problems


# ------------------------------------------------------------------ per-image work
def output_paths(out_dir: str, rel: str, overlay: bool = True) -> Dict[str, str]:
    """Output files of the image with relative path ``rel``."""
    return {key: osp.join(out_dir, rel + suffix) for key, suffix in OUTPUT_SUFFIXES.items()
            if overlay or key != 'overlay'}


def find_mask(mask_dir: str, rel: str, suffix: str = '') -> Optional[str]:
    """The mask of image ``rel`` in ``mask_dir`` (same stem + ``suffix``), if any."""
    stem = osp.splitext(rel)[0] + suffix
    for ext in IMAGE_EXTENSIONS:
        for candidate in (stem + ext, stem + ext.upper()):
            if osp.lexists(osp.join(mask_dir, candidate)):
                return osp.join(mask_dir, candidate)
    return None


def mask_scores(prob: np.ndarray, gt: np.ndarray, threshold: float) -> Dict[str, float]:
    """F1 and IoU at ``threshold`` and the best F1 over thresholds (1000 bins).

    Values are NaN when the mask has no forged pixel (F1 undefined).
    """
    positives = int(gt.sum())
    if positives == 0:
        return {'f1': math.nan, 'f1_best': math.nan, 'iou': math.nan}
    pred = prob > threshold
    gt = gt.astype(bool)
    tp = int(np.count_nonzero(pred & gt))
    fp = int(np.count_nonzero(pred & ~gt))
    fn = positives - tp
    bins = np.minimum((prob * 1000).astype(np.int64), 999)
    pos_hist = np.bincount(bins[gt], minlength=1000)[::-1].cumsum()
    all_hist = np.bincount(bins.ravel(), minlength=1000)[::-1].cumsum()
    best = float((2 * pos_hist / (positives + all_hist)).max())
    return {'f1': 2 * tp / (2 * tp + fp + fn), 'f1_best': best, 'iou': tp / (tp + fp + fn)}


def _save_png(path: str, array: np.ndarray) -> None:
    from PIL import Image
    with atomic_write(path) as fh:
        Image.fromarray(array).save(fh, format='PNG', compress_level=3)


def _save_npz(path: str, output, save_modality: bool = False) -> None:
    arrays = {'map': output.map, 'imgsize': np.asarray(output.map.shape, dtype=np.int64)}
    if output.conf is not None:
        arrays['conf'] = output.conf
    if output.score is not None:
        arrays['score'] = np.float32(output.score)
    if save_modality and output.modality is not None:
        arrays[output.modality[0]] = output.modality[1]
    with atomic_write(path) as fh:  # uncompressed like TruFor: zlib on float maps is slow
        np.savez(fh, **arrays)


def _load_npz(path: str) -> Optional[dict]:
    try:
        with np.load(path, allow_pickle=False) as data:
            result = {key: data[key] for key in data.files}
    except Exception:  # unreadable or foreign file: recompute it
        return None
    return result if 'map' in result else None


def _stats(row: dict, prob: np.ndarray, score: Optional[float], threshold: float) -> None:
    row.update(height=int(prob.shape[0]), width=int(prob.shape[1]),
               map_max=round(float(prob.max()), 6),
               forged_fraction=round(float(np.count_nonzero(prob > threshold)) / prob.size, 6),
               score=None if score is None else round(float(score), 6))


def _evaluate(row: dict, args, rel: str, prob: np.ndarray) -> None:
    """Add mask scores to ``row``; an unusable mask turns the row into an error."""
    if not args.masks:
        return
    mask_path = find_mask(args.masks, rel, args.mask_suffix)
    row['mask'] = mask_path
    if mask_path is None:
        return
    try:
        gt = read_mask(mask_path, expected_hw=prob.shape)
    except ImageReadError as exc:
        row.update(status='error', error=str(exc))
        return
    row.update({k: None if math.isnan(v) else round(v, 6)
                for k, v in mask_scores(prob, gt, args.threshold).items()})


def process_image(localizer, path: str, rel: str, args) -> dict:
    """Localize one image and write its outputs; returns its summary record.

    Raises:
        ImageReadError: Unusable image or mask.
    """
    row = {'input': path, 'output': osp.join(args.out, rel), 'notes': ''}
    paths = output_paths(args.out, rel, overlay=not args.no_overlay)
    start = time.perf_counter()
    if not args.overwrite and all(osp.exists(p) for p in paths.values()):
        previous = _load_npz(paths['npz'])
        if previous is not None:
            score = previous.get('score')
            _stats(row, previous['map'], None if score is None else float(score),
                   args.threshold)
            row.update(status='skipped', error='',
                       notes='outputs exist (--overwrite recomputes them)')
            _evaluate(row, args, rel, previous['map'])
            row['seconds'] = round(time.perf_counter() - start, 4)
            return row
    rgb, info = read_image(path, max_pixels=int(args.max_mpix * 1e6),
                           min_size=args.min_size)
    row['notes'] = '; '.join(info.notes)
    tic = time.perf_counter()
    output = localizer(rgb)
    row['infer_seconds'] = round(time.perf_counter() - tic, 4)
    _stats(row, output.map, output.score, args.threshold)
    _save_png(paths['mask'], (output.map > args.threshold).astype(np.uint8) * 255)
    if 'overlay' in paths:
        from .visualize import render_overlay
        figure = render_overlay(rgb, output.map, args.threshold, output.conf, output.score,
                                title=rel)
        with atomic_write(paths['overlay']) as fh:
            fh.write(figure)
    _save_npz(paths['npz'], output, args.save_modality)
    row.update(status='ok', error='')
    _evaluate(row, args, rel, output.map)  # after the writes: a bad mask loses no map
    row['seconds'] = round(time.perf_counter() - start, 4)
    return row


# ------------------------------------------------------------------ summary
def write_summary(out_dir: str, meta: dict, rows: List[dict]) -> None:
    """Write ``summary.json`` and ``summary.csv`` atomically."""
    counts = {s: sum(r['status'] == s for r in rows) for s in ('ok', 'skipped', 'error')}
    record = dict(meta, counts=counts, images=rows)
    with atomic_write(osp.join(out_dir, 'summary.json'), 'w') as fh:
        json.dump(record, fh, indent=1, allow_nan=False)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=SUMMARY_FIELDS, extrasaction='ignore')
    writer.writeheader()
    for row in rows:
        writer.writerow({k: '' if row.get(k) is None else row.get(k) for k in SUMMARY_FIELDS})
    with atomic_write(osp.join(out_dir, 'summary.csv'), 'w') as fh:
        fh.write(text.getvalue())


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec='seconds')


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``dp-localize`` and ``tools/localize.py``; returns the exit status."""
    args = parse_args(argv)
    from tqdm import tqdm

    def say(message: str) -> None:
        tqdm.write(message, file=sys.stderr)

    if args.install_model:
        try:
            installed = model_home.install_model(args.config, args.checkpoint)
        except Exception as exc:  # bad file: one line, usage exit code
            say(f'dp-localize: error: cannot install the model: {" ".join(str(exc).split())}')
            return 2
        say(f'dp-localize: installed the default model in {osp.dirname(installed[0])}')
        if not args.inputs:
            return 0
    try:
        default_config, default_checkpoint = model_home.default_model()
    except ValueError as exc:  # an empty $DP_PLUGIN_HOME
        say(f'dp-localize: error: {exc}')
        return 2
    config = args.config or default_config
    checkpoint = args.checkpoint or (default_checkpoint if args.config is None else None)
    if checkpoint is None:
        say('dp-localize: error: --config given without --checkpoint')
        return 2
    for what, path in (('config', config), ('checkpoint', checkpoint)):
        if not osp.isfile(path):
            hint = (' (no default model installed: run `make demo`, or `dp-localize '
                    '--install-model --config C --checkpoint W`, or pass --config/--checkpoint;'
                    f' ${model_home.HOME_ENV} sets the folder)'
                    if path in (default_config, default_checkpoint) else '')
            say(f'dp-localize: error: {what} {path} not found{hint}')
            return 2
    items, problems = collect_inputs(args.inputs, exclude=args.out)
    if not items and not problems:
        say('dp-localize: error: no image files found in the inputs')
        return 2
    os.makedirs(args.out, exist_ok=True)
    remove_stale_temp_files(args.out)

    import torch
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if args.threads:
        torch.set_num_threads(args.threads)
    from .inference import Localizer
    say(f'dp-localize: executing config {osp.abspath(config)} (a config is Python code)')
    try:
        localizer = Localizer(config, checkpoint, device=device, tile=args.tile,
                              tile_overlap=args.tile_overlap, cfg_options=args.cfg_options)
    except Exception as exc:  # any failure to build/load: one line, usage exit code
        say(f'dp-localize: error: cannot load the model: {type(exc).__name__}: '
            f'{" ".join(str(exc).split())}')
        return 2
    meta = dict(tool='dp-localize', config=config, checkpoint=checkpoint,
                model=type(localizer.model).__name__, device=device,
                threshold=args.threshold, tile=args.tile, tile_overlap=args.tile_overlap,
                started=_now())
    rows = [{'input': path, 'status': status, 'error': message}
            for path, status, message in problems]
    for path, status, message in problems:
        say(f'{"ERROR" if status == "error" else "WARNING"} {path}: {message}')
    interrupted = False
    try:
        for path, rel in tqdm(items, desc='dp-localize', unit='img', file=sys.stderr,
                              dynamic_ncols=True):
            start = time.perf_counter()
            try:
                row = process_image(localizer, path, rel, args)
            except ImageReadError as exc:
                row = {'input': path, 'status': 'error', 'error': str(exc)}
            except Exception as exc:  # model or write failure: report, keep going
                row = {'input': path, 'status': 'error',
                       'error': f'{path}: {type(exc).__name__}: {" ".join(str(exc).split())}'}
                if device.startswith('cuda'):
                    torch.cuda.empty_cache()
            if row['status'] == 'error':
                row.setdefault('seconds', round(time.perf_counter() - start, 4))
                say(f'ERROR {row["error"]}')
            rows.append(row)
    except KeyboardInterrupt:
        interrupted = True
        say('dp-localize: interrupted; finished outputs are kept, re-run to resume')
    finally:
        meta['finished'] = _now()
        meta['interrupted'] = interrupted
        write_summary(args.out, meta, rows)
    failed = sum(r['status'] == 'error' for r in rows)
    done = sum(r['status'] == 'ok' for r in rows)
    skipped = sum(r['status'] == 'skipped' for r in rows)
    say(f'dp-localize: {done} processed, {skipped} skipped, {failed} failed; '
        f'summary in {osp.join(args.out, "summary.json")}')
    if interrupted:
        return 130
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
