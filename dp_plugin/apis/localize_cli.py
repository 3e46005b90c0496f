"""``dp-localize``: forgery maps for images, folders and globs with any trained model.

This module runs a parsed command line (:func:`run`); the parts live beside it:
:mod:`.localize_args` (options, checked before anything heavy is imported),
:mod:`.localize_inputs` (file discovery), :mod:`.localize_masks` (``--masks`` sources)
and :mod:`.localize_outputs` (writers, provenance, summary). Outputs per image
(``rel`` = path relative to the common folder of the inputs)::

    OUT/rel.npz          TruFor-style: map, imgsize, conf, score (+ np++), dp_provenance
    OUT/rel.mask.png     binary mask, white = forged (map > --threshold)
    OUT/rel.overlay.png  image | (ground truth |) map | overlay (| confidence) figure
    OUT/summary.json     one record per input: status, error, score, forged fraction, timing
    OUT/summary.csv      the same records as a table

Every file is written atomically; an image whose outputs exist *and were produced by the
same model, config, options and input* is skipped unless ``--overwrite``, so a killed run
resumes. One line per failed input; exit status 1 if any failed, 2 for usage errors (bad
options, unusable output folder or ``--masks``, model cannot be loaded). See
``docs/localize.md``.
"""
import math
import os
import os.path as osp
import sys
import tempfile
import time
from datetime import datetime, timezone
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .image_io import ImageReadError, read_image, read_mask, remove_stale_temp_files
from .localize_args import build_parser, parse_args  # noqa: F401  (re-exported)
from .localize_inputs import collect_inputs, display_name
from .localize_masks import GroundTruth, MaskSourceError, MaskSources
from .localize_outputs import (OutputPathError, file_sha256, format_groups, group_means,
                               load_previous, output_paths, provenance, run_provenance,
                               save_mask, save_npz, save_overlay, write_summary)

from ..utils import model_home


def mask_scores(prob: np.ndarray, gt: np.ndarray, threshold: float) -> Dict[str, float]:
    """The per-image scores ``tools/test.py`` records for this map and mask.

    :func:`dp_plugin.evaluation.functional.image_metrics`: a mask with a forged pixel
    gives ``f1``, ``f1_best``, ``iou``, ``f1_trufor``, ... (NaN where undefined); an empty
    mask (authentic image) gives ``fp_area`` and ``flagged`` instead.
    """
    from dp_plugin.evaluation.functional import image_metrics
    return image_metrics(prob, gt, threshold=threshold)


class ModelOutputError(ValueError):
    """The model produced unusable maps (NaN / inf) for an image (one line)."""


def _check_finite(path: str, output) -> None:
    for name, values in (('map', output.map), ('confidence map', output.conf)):
        if values is not None and not np.isfinite(values).all():
            bad = int(values.size - np.count_nonzero(np.isfinite(values)))
            raise ModelOutputError(
                f'{display_name(path)}: the model produced {bad} non-finite (NaN/inf) '
                f'{name} values of {values.size}; nothing written for this image (are the '
                f'checkpoint\'s weights finite?)')
    if output.score is not None and not math.isfinite(output.score):
        raise ModelOutputError(f'{display_name(path)}: the model produced a non-finite '
                               f'detection score; nothing written for this image')


def check_output_folder(out: str) -> Optional[str]:
    """Why ``out`` cannot take the outputs (one line), or ``None`` when it can: it is
    created if missing and a file is test-written into it."""
    if osp.lexists(out) and not osp.isdir(out):
        return f'-o {out} exists and is not a folder'
    try:
        os.makedirs(out, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix='.dp-localize-write-test-', dir=out)
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        return f'the output folder {out} is not writable: {exc.strerror or exc}'
    return None


def _stats(row: dict, prob: np.ndarray, score: Optional[float], threshold: float) -> None:
    row.update(height=int(prob.shape[0]), width=int(prob.shape[1]),
               map_max=round(float(prob.max()), 6),
               forged_fraction=round(float(np.count_nonzero(prob > threshold)) / prob.size, 6),
               score=None if score is None else round(float(score), 6))


def _ground_truth(masks: Optional[MaskSources], path: str, rel: str,
                  hw: Tuple[int, int]) -> Tuple[Optional[GroundTruth], Optional[np.ndarray],
                                                Optional[str]]:
    """``(truth, mask array, error)`` of one image; an unusable mask is an error message."""
    if masks is None:
        return None, None, None
    truth = masks.lookup(path, rel)
    if truth.mask is None:
        return truth, None, None
    try:
        return truth, read_mask(truth.mask, expected_hw=hw), None
    except ImageReadError as exc:
        return truth, None, str(exc)


def _evaluate(row: dict, prob: np.ndarray, truth: Optional[GroundTruth],
              gt: Optional[np.ndarray], error: Optional[str], threshold: float) -> None:
    """Add the ground truth and mask scores to ``row``; an unusable mask makes the row an
    error (after the maps were written: a bad mask loses no map)."""
    if truth is None:
        return
    row.update(mask=truth.mask, generator=truth.generator, mask_type=truth.mask_type,
               label=truth.label)
    if error is not None:
        row.update(status='error', error=error)
        return
    if gt is None:
        return
    if row['label'] is None:
        row['label'] = int(bool(gt.any()))
    row.update({k: None if math.isnan(v) else round(float(v), 6)
                for k, v in mask_scores(prob, gt, threshold).items()})


def process_image(localizer, path: str, rel: str, args, run_record: dict,
                  masks: Optional[MaskSources] = None) -> dict:
    """Localize one image and write its outputs; returns its summary record.

    Raises:
        ImageReadError: Unusable image.
        ModelOutputError: NaN / inf maps.
        OutputPathError: An output path outside ``-o``.
    """
    row = {'input': path, 'output': osp.join(args.out, rel), 'notes': ''}
    paths = output_paths(args.out, rel, overlay=not args.no_overlay)
    start = time.perf_counter()
    input_sha = None  # a special file (FIFO, device) is never opened: read_image refuses it
    if osp.isfile(path):
        try:
            input_sha = file_sha256(path)
        except OSError:
            pass  # read_image below says what is wrong with the file
    if not args.overwrite and input_sha and all(osp.exists(p) for p in paths.values()):
        previous = load_previous(paths['npz'], run_record, input_sha)
        if previous is not None:
            score = float(previous['score'])
            _stats(row, previous['map'], score if math.isfinite(score) else None,
                   args.threshold)
            row.update(status='skipped', error='',
                       notes='outputs exist from the same model, options and input '
                             '(--overwrite recomputes them)')
            _evaluate(row, previous['map'], *_ground_truth(masks, path, rel,
                                                           previous['map'].shape),
                      args.threshold)
            row['seconds'] = round(time.perf_counter() - start, 4)
            return row
    rgb, info = read_image(path, max_pixels=int(args.max_mpix * 1e6), min_size=args.min_size)
    row['notes'] = '; '.join(info.notes)
    tic = time.perf_counter()
    output = localizer(rgb)
    row['infer_seconds'] = round(time.perf_counter() - tic, 4)
    _check_finite(path, output)
    _stats(row, output.map, output.score, args.threshold)
    truth, gt, mask_error = _ground_truth(masks, path, rel, output.map.shape)
    save_mask(paths['mask'], output.map, args.threshold)
    if 'overlay' in paths:
        save_overlay(paths['overlay'], rgb, output, args.threshold, rel, gt)
    record = provenance(run_record, input_sha or file_sha256(path), *output.map.shape)
    save_npz(paths['npz'], output, record, args.save_modality)  # last: marks the image done
    row.update(status='ok', error='')
    _evaluate(row, output.map, truth, gt, mask_error, args.threshold)
    row['seconds'] = round(time.perf_counter() - start, 4)
    return row


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec='seconds')


def _config_text(localizer) -> str:
    """The resolved config of the loaded model (``_base_`` files and ``--cfg-options``
    merged), for the provenance checksum."""
    cfg = localizer.model.cfg
    try:
        return cfg.pretty_text
    except Exception:  # pretty-printing needs yapf and a formattable config
        return repr(cfg._cfg_dict.to_dict())


def _report_masks(say, rows: List[dict], keys: Sequence[str]) -> Optional[List[dict]]:
    """Warn "k of N masks found" and print the mean scores per generator x mask type."""
    done = [r for r in rows if r['status'] in ('ok', 'skipped') or r.get('mask')]
    expected = [r for r in done if r.get('label') != 0]
    found = [r for r in expected if r.get('mask')]
    authentic = len(done) - len(expected)
    if len(found) < len(expected):
        say(f'WARNING --masks: {len(found)} of {len(expected)} masks found'
            + (f' ({authentic} authentic images need none)' if authentic else '')
            + '; images without a mask have no F1')
    table = group_means(rows, keys)
    if table:
        say('dp-localize: mean scores per generator x mask type (forged images, %):\n'
            + format_groups(table, keys))
    return table


def run(args, started: Optional[float] = None) -> int:
    """Run a parsed command line (:func:`.localize_args.parse_args`); returns the exit
    status. ``started`` (``time.perf_counter()`` at process start) times the start-up."""
    started = time.perf_counter() if started is None else started
    from tqdm import tqdm

    def say(message: str) -> None:
        tqdm.write(display_name(message), file=sys.stderr)

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
    try:
        masks = MaskSources(args.masks, args.mask_suffix) if args.masks else None
    except MaskSourceError as exc:
        say(f'dp-localize: error: {exc}')
        return 2
    problem = check_output_folder(args.out)
    if problem:
        say(f'dp-localize: error: {problem}')
        return 2
    items, problems = collect_inputs(args.inputs, out_dir=args.out)
    if not items and not problems:
        say('dp-localize: error: no image files found in the inputs')
        return 2
    remove_stale_temp_files(args.out)

    import torch
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if args.threads:
        torch.set_num_threads(args.threads)
    from .inference import Localizer
    cfg_options = None
    if args.cfg_options:
        from mmengine.config import DictAction
        holder = type('Options', (), {})()
        DictAction(option_strings=['--cfg-options'], dest='cfg_options')(
            None, holder, args.cfg_options)
        cfg_options = holder.cfg_options
    startup = time.perf_counter() - started
    say(f'dp-localize: executing config {osp.abspath(config)} (a config is Python code)')
    tic = time.perf_counter()
    try:
        localizer = Localizer(config, checkpoint, device=device, tile=args.tile,
                              tile_overlap=args.tile_overlap, cfg_options=cfg_options)
        run_record = run_provenance(file_sha256(checkpoint), _config_text(localizer), args)
    except Exception as exc:  # any failure to build/load: one line, usage exit code
        say(f'dp-localize: error: cannot load the model: {type(exc).__name__}: '
            f'{" ".join(str(exc).split())}')
        return 2
    model_load = time.perf_counter() - tic
    meta = dict(tool='dp-localize', config=config, checkpoint=checkpoint,
                checkpoint_sha256=run_record['checkpoint_sha256'],
                config_sha256=run_record['config_sha256'],
                model=type(localizer.model).__name__, device=device,
                threshold=args.threshold, tile=args.tile, tile_overlap=args.tile_overlap,
                masks=args.masks, started=_now(),
                timing=dict(startup_seconds=round(startup, 3),
                            model_load_seconds=round(model_load, 3)))
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
                row = process_image(localizer, path, rel, args, run_record, masks)
            except (ImageReadError, ModelOutputError, OutputPathError) as exc:
                row = {'input': path, 'status': 'error', 'error': str(exc)}
            except Exception as exc:  # model or write failure: report, keep going
                row = {'input': path, 'status': 'error',
                       'error': f'{path}: {type(exc).__name__}: {" ".join(str(exc).split())}'}
                if device.startswith('cuda'):
                    torch.cuda.empty_cache()
            if row['status'] == 'error':
                row.setdefault('seconds', round(time.perf_counter() - start, 4))
                say(f'ERROR {row["error"]}')
            if 'first_image_seconds' not in meta['timing'] and row['status'] == 'ok':
                first = time.perf_counter() - start
                meta['timing'].update(first_image_seconds=round(first, 3),
                                      first_map_seconds=round(startup + model_load + first, 3))
                say(f'dp-localize: first map after {startup + model_load + first:.1f} s '
                    f'(start-up {startup:.1f} s + model load {model_load:.1f} s + '
                    f'first image {first:.1f} s)')
            rows.append(row)
    except KeyboardInterrupt:
        interrupted = True
        say('dp-localize: interrupted; finished outputs are kept, re-run to resume')
    finally:
        if masks is not None:
            keys = [k for k in ('f1', 'f1_best', 'iou')
                    if any(r.get(k) is not None for r in rows)] or ['f1']
            meta['groups'] = _report_masks(say, rows, keys)
        meta['finished'] = _now()
        meta['interrupted'] = interrupted
        summary_error = None
        try:
            write_summary(args.out, meta, rows)
        except OSError as exc:  # e.g. disk full: the per-image outputs are kept
            summary_error = exc
    if summary_error is not None:
        say(f'dp-localize: error: cannot write the summary: {summary_error}')
        return 1
    failed = sum(r['status'] == 'error' for r in rows)
    done = sum(r['status'] == 'ok' for r in rows)
    skipped = sum(r['status'] == 'skipped' for r in rows)
    say(f'dp-localize: {done} processed, {skipped} skipped, {failed} failed; '
        f'summary in {osp.join(args.out, "summary.json")}')
    if interrupted:
        return 130
    return 1 if failed else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``dp-localize`` and ``tools/localize.py``; returns the exit status."""
    started = time.perf_counter()
    return run(parse_args(argv), started)


if __name__ == '__main__':
    sys.exit(main())
