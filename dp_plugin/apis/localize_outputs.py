"""Writers of ``dp-localize``: per-image outputs, their provenance and the run summary.

Per image (``rel`` = output name from :mod:`.localize_inputs`)::

    OUT/rel.npz          TruFor-style arrays (:mod:`dp_plugin.evaluation.trufor_npz`) plus
                         ``dp_provenance`` (what produced them, see :func:`provenance`)
    OUT/rel.mask.png     binary mask, white = forged (map > --threshold)
    OUT/rel.overlay.png  image | (ground truth |) map | overlay (| confidence) figure

Every file goes through :func:`~dp_plugin.utils.atomic_io.atomic_write`; the ``.npz`` is
written last, so an image counts as done only when all its outputs are complete.
"""
import csv
import hashlib
import io
import json
import math
import os
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np

from dp_plugin.utils.atomic_io import atomic_write
from .localize_inputs import display_name

OUTPUT_SUFFIXES = {'npz': '.npz', 'mask': '.mask.png', 'overlay': '.overlay.png'}
SUMMARY_FIELDS = ('input', 'output', 'status', 'error', 'width', 'height', 'score',
                  'map_max', 'forged_fraction', 'seconds', 'infer_seconds', 'notes', 'mask',
                  'generator', 'mask_type', 'f1', 'f1_best', 'iou')
#: Version of the provenance record; a different version is recomputed.
PROVENANCE_FORMAT = 'dp-localize/1'


class OutputPathError(ValueError):
    """An output path that would leave the output folder (one line)."""


def output_paths(out_dir: str, rel: str, overlay: bool = True) -> Dict[str, str]:
    """Output files of the image with output name ``rel``, all inside ``out_dir``.

    Raises:
        OutputPathError: ``rel`` is absolute, climbs out with ``..``, or a folder on the
            way is a symbolic link leading outside ``out_dir``.
    """
    norm = osp.normpath(rel)
    if osp.isabs(norm) or norm == '..' or norm.startswith('..' + os.sep):
        raise OutputPathError(f'output name {display_name(rel)} leaves the output folder')
    real_out = osp.realpath(out_dir)
    parent = osp.realpath(osp.dirname(osp.join(out_dir, norm)))
    if parent != real_out and not parent.startswith(real_out + os.sep):
        raise OutputPathError(f'output folder of {display_name(rel)} resolves to '
                              f'{display_name(parent)}, outside {display_name(real_out)}')
    return {key: osp.join(out_dir, norm + suffix) for key, suffix in OUTPUT_SUFFIXES.items()
            if overlay or key != 'overlay'}


# ------------------------------------------------------------------ provenance
def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with open(path, 'rb') as fh:
        for block in iter(lambda: fh.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def run_provenance(checkpoint_sha256: str, config_text: str, args) -> dict:
    """The part of the provenance shared by every image of a run: model weights and
    resolved config (checksums), and every option that changes an output."""
    return dict(format=PROVENANCE_FORMAT, checkpoint_sha256=checkpoint_sha256,
                config_sha256=hashlib.sha256(config_text.encode('utf-8', 'replace')).hexdigest(),
                threshold=args.threshold, tile=args.tile, tile_overlap=args.tile_overlap,
                save_modality=bool(args.save_modality),
                precision=getattr(args, 'precision', 'fp32'))


def provenance(run: dict, input_sha256: str, height: int, width: int) -> dict:
    """What produced one image's outputs: the run's part plus the input's checksum and
    the image size the maps have."""
    return dict(run, input_sha256=input_sha256, height=int(height), width=int(width))


def load_previous(npz_path: str, run: dict, input_sha256: str) -> Optional[dict]:
    """The arrays of an existing ``.npz`` if this run would produce the same file.

    ``None`` (recompute) when the file is unreadable or foreign, has no provenance or
    another one (model, config, threshold, tiling, input content), or its map does not
    have the image size it records.
    """
    try:
        with np.load(npz_path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
        recorded = json.loads(str(arrays['dp_provenance']))
        size = (int(recorded['height']), int(recorded['width']))
    except Exception:  # unreadable, foreign or without provenance: recompute
        return None
    if recorded != provenance(run, input_sha256, *size) or 'map' not in arrays \
            or arrays['map'].shape != size \
            or tuple(np.asarray(arrays.get('imgsize', ())).tolist()) != size:
        return None
    return arrays


# ------------------------------------------------------------------ per-image writers
def save_mask(path: str, prob: np.ndarray, threshold: float) -> None:
    """``prob > threshold`` as an 8-bit PNG (255 = forged)."""
    from PIL import Image
    with atomic_write(path) as fh:
        Image.fromarray((prob > threshold).astype(np.uint8) * 255).save(
            fh, format='PNG', compress_level=3)


def save_overlay(path: str, rgb: np.ndarray, output, threshold: float, title: str,
                 gt: Optional[np.ndarray] = None) -> None:
    """The heat-map figure (:func:`dp_plugin.utils.forgery_figure.forgery_figure`)."""
    from dp_plugin.utils.forgery_figure import forgery_figure
    figure = forgery_figure(rgb, output.map, threshold, output.conf, output.score,
                            title=display_name(title), gt=gt)
    with atomic_write(path) as fh:
        fh.write(figure)


def save_npz(path: str, output, record: dict, save_modality: bool = False) -> None:
    """The TruFor-style arrays plus ``dp_provenance`` (a JSON string)."""
    from dp_plugin.evaluation.trufor_npz import npz_payload
    arrays = npz_payload(output.map, output.conf, output.score,
                         output.modality if save_modality else None)
    arrays['dp_provenance'] = np.asarray(json.dumps(record, sort_keys=True))
    with atomic_write(path) as fh:  # uncompressed like TruFor: zlib on float maps is slow
        np.savez(fh, **arrays)


# ------------------------------------------------------------------ summary
def _clean(value):
    """JSON/CSV-safe value: non-finite floats -> ``None``, undecodable names printable."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _clean(value.item())
    if isinstance(value, str):
        return display_name(value)
    if isinstance(value, dict):
        return {display_name(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def group_means(rows: Sequence[dict], keys: Sequence[str]) -> List[dict]:
    """Mean of each metric in ``keys`` per generator x mask type over forged images with a
    mask (``label`` 1), plus ``all`` rows, as ``tools/test.py`` averages them (per-image
    mean, NaN values left out)."""
    forged = [r for r in rows if r.get('label') == 1 and r.get('mask')
              and r.get('status') in ('ok', 'skipped')]
    groups = defaultdict(list)
    for r in forged:
        groups[(r.get('generator', 'unknown'), r.get('mask_type', 'unknown'))].append(r)
    for mask_type in sorted({k[1] for k in groups}):
        groups[('all', mask_type)] = [r for r in forged if r.get('mask_type') == mask_type]
    order = sorted(k for k in groups if k[0] != 'all') + sorted(k for k in groups if k[0] == 'all')
    if forged:
        order.append(('all', 'all'))
        groups[('all', 'all')] = forged
    table = []
    for key in order:
        entry = dict(generator=key[0], mask_type=key[1], n=len(groups[key]))
        for k in keys:
            values = [r[k] for r in groups[key] if r.get(k) is not None]
            entry[k] = round(float(np.mean(values)), 6) if values else None
        table.append(entry)
    return table


def format_groups(table: Sequence[dict], keys: Sequence[str]) -> str:
    """The per-group table as text (values in percent, like ``tools/test.py``)."""
    header = ['generator', 'mask', 'n'] + list(keys)
    lines = [header] + [[g['generator'], g['mask_type'], str(g['n'])]
                        + ['-' if g[k] is None else f'{100 * g[k]:.2f}' for k in keys]
                        for g in table]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return '\n'.join('  '.join(c.ljust(w) for c, w in zip(line, widths)) for line in lines)


def write_summary(out_dir: str, meta: dict, rows: List[dict]) -> None:
    """Write ``summary.json`` and ``summary.csv`` atomically. Never fails on the records'
    content: non-finite numbers become ``null`` / empty, undecodable names ``\\xNN``."""
    rows = [_clean(r) for r in rows]
    counts = {s: sum(r['status'] == s for r in rows) for s in ('ok', 'skipped', 'error')}
    record = dict(_clean(meta), counts=counts, images=rows)
    with atomic_write(osp.join(out_dir, 'summary.json'), 'w') as fh:
        json.dump(record, fh, indent=1, allow_nan=False, ensure_ascii=False)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=SUMMARY_FIELDS, extrasaction='ignore')
    writer.writeheader()
    for row in rows:
        writer.writerow({k: '' if row.get(k) is None else row.get(k) for k in SUMMARY_FIELDS})
    with atomic_write(osp.join(out_dir, 'summary.csv'), 'w') as fh:
        fh.write(text.getvalue())
