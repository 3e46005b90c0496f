"""Patch-pair builder: inpainting manifest -> uint8 memmap + index CSV (paper §3.4, §4.1).

The output is interchangeable with the DiffusionPrint authors' patch files: one raw
``uint8`` memmap ``patches.dat`` of shape ``(N, P, P, 3)`` and an index CSV with the
columns :data:`CSV_COLUMNS`. ``meta.json`` records the shape and build options.

Pair rules (M x N grid of P x P patches, aligned before and after inpainting):

* generated image (one record): grid laid over the mask's bounding box; positions
  whose mask coverage is ``>= inside_min`` give the positive pair (source, inpainted);
* real image (K records, one per generator, same source and mask): grid over the
  whole image; positions with coverage ``<= outside_max`` give K + 1 mutual positives
  (source + K reconstructions); positions with coverage ``>= inside_min`` are content
  generated from scratch: the K inpainted patches go to the hard-negative pool
  (``has_positive=False``, category ``generated``); partially covered positions are
  skipped;
* the grid adapts: along an axis of length L at most ``L // P`` patches are placed, so
  patch centres never fall closer than P pixels.
"""
import csv
import hashlib
import io
import json
import os
from collections import Counter, OrderedDict
from dataclasses import asdict, dataclass, field
from typing import List, Optional, Sequence, Tuple

import numpy as np

from dp_plugin.utils import atomic_write_bytes

CSV_COLUMNS = ('patch_path', 'master_index', 'image_stem', 'category', 'generator_model',
               'has_positive', 'positive_patch_paths')
REQUIRED_KEYS = ('image_id', 'category', 'generator', 'source', 'inpainted', 'mask')
CATEGORIES = ('real', 'generated')
#: ``generator_model`` written for real patches (the authors' convention).
REAL_GENERATOR = 'none'
DATA_FILE = 'patches.dat'
INDEX_FILE = 'patches.csv'
META_FILE = 'meta.json'
STATE_FILE = '.build_state.json'


@dataclass
class BuildOptions:
    """Options of :func:`build_patches` (recorded in ``meta.json``)."""
    patch_size: int = 64
    grid: Tuple[int, int] = (4, 4)
    inside_min: float = 0.5
    outside_max: float = 0.0
    pool_sources: bool = False

    def validate(self) -> None:
        if self.patch_size < 1:
            raise ValueError(f'patch_size must be >= 1, got {self.patch_size}')
        if len(self.grid) != 2 or min(self.grid) < 1:
            raise ValueError(f'grid must be two positive ints (rows, cols), got {self.grid}')
        if not 0.0 < self.inside_min <= 1.0:
            raise ValueError(f'inside_min must be in (0, 1], got {self.inside_min}')
        if not 0.0 <= self.outside_max < self.inside_min:
            raise ValueError(f'outside_max must be in [0, inside_min), got {self.outside_max}')


@dataclass
class Group:
    """The records of one source image: K for a real image, one for a generated one."""
    key: str
    category: str
    image_id: str
    source: str
    mask: str
    inpainted: List[Tuple[str, str]] = field(default_factory=list)  # (generator, path)


# --------------------------------------------------------------------------- manifest
def read_manifest(path: str) -> List[dict]:
    """Read a manifest (``.jsonl`` or ``.csv`` with the same keys); paths made absolute.

    Raises ValueError naming the file and line for a malformed record.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'manifest not found: {path}')
    root = os.path.dirname(os.path.abspath(path))
    records = []
    if path.endswith('.csv'):
        with open(path, newline='') as f:
            rows = list(enumerate(csv.DictReader(f), start=2))
    else:
        rows = []
        with open(path) as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    rows.append((lineno, json.loads(line)))
                except json.JSONDecodeError as err:
                    raise ValueError(f'{path}:{lineno}: not a JSON object ({err})') from None
    for lineno, rec in rows:
        missing = [k for k in REQUIRED_KEYS if not rec.get(k)]
        if missing:
            raise ValueError(f'{path}:{lineno}: record lacks {missing}; expected keys '
                             f'{list(REQUIRED_KEYS)} (see docs/pretraining.md)')
        if rec['category'] not in CATEGORIES:
            raise ValueError(f'{path}:{lineno}: category {rec["category"]!r}, expected one '
                             f'of {CATEGORIES}')
        rec = dict(rec)
        for key in ('source', 'inpainted', 'mask'):
            rec[key] = os.path.join(root, rec[key])
        rec['_line'] = lineno
        records.append(rec)
    return records


def group_records(records: Sequence[dict], manifest: str = 'manifest') -> List[Group]:
    """Group a real image's K records into one :class:`Group`; keep manifest order."""
    groups: 'OrderedDict[str, Group]' = OrderedDict()
    for rec in records:
        if rec['category'] == 'real':
            key = f'real/{rec["image_id"]}'
        else:
            key = f'{rec["generator"]}/{rec["image_id"]}'
        grp = groups.get(key)
        if grp is None:
            grp = groups[key] = Group(key, rec['category'], rec['image_id'], rec['source'],
                                      rec['mask'])
        elif rec['category'] == 'generated':
            raise ValueError(f'{manifest}:{rec["_line"]}: duplicate generated record {key}')
        elif (rec['source'], rec['mask']) != (grp.source, grp.mask):
            raise ValueError(f'{manifest}:{rec["_line"]}: real image {rec["image_id"]} has '
                             f'records with different source/mask; its K records must share '
                             f'them')
        if rec['generator'] in (g for g, _ in grp.inpainted):
            raise ValueError(f'{manifest}:{rec["_line"]}: generator {rec["generator"]!r} '
                             f'repeated for {key}')
        grp.inpainted.append((rec['generator'], rec['inpainted']))
    return list(groups.values())


# --------------------------------------------------------------------------- geometry
def axis_starts(lo: int, hi: int, count: int, patch: int, size: int) -> List[int]:
    """Starts of up to ``count`` patches spread over ``[lo, hi)`` of an axis of ``size``.

    At most ``(hi - lo) // patch`` patches are placed (centres >= ``patch`` apart);
    a region shorter than a patch gets one patch centred on it, clamped to the image.
    """
    if size < patch:
        return []
    length = hi - lo
    n = max(1, min(count, length // patch))
    if n == 1:
        start = (lo + hi) // 2 - patch // 2
        return [int(min(max(start, 0), size - patch))]
    return [int(round(v)) for v in np.linspace(lo, hi - patch, n)]


def grid_positions(region: Tuple[int, int, int, int], grid: Tuple[int, int], patch: int,
                   shape: Tuple[int, int]) -> List[Tuple[int, int, int, int]]:
    """``(row, col, top, left)`` of the adapted grid over ``region = (y0, y1, x0, x1)``."""
    y0, y1, x0, x1 = region
    tops = axis_starts(y0, y1, grid[0], patch, shape[0])
    lefts = axis_starts(x0, x1, grid[1], patch, shape[1])
    return [(r, c, t, l) for r, t in enumerate(tops) for c, l in enumerate(lefts)]


def mask_bbox(mask: np.ndarray) -> Optional[Tuple[int, int, int, int]]:
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return None
    return int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1


# --------------------------------------------------------------------------- extraction
def _load_rgb(path: str) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert('RGB'))


def _load_mask(path: str) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as im:
        arr = np.asarray(im)
    if arr.ndim == 3:
        arr = arr.max(axis=2)
    return arr > 0


def extract_group(group: Group, opts: BuildOptions) -> Tuple[List[dict], List[np.ndarray]]:
    """Rows (CSV fields without ``master_index``) and patches of one group.

    Raises ValueError naming the file when images are unreadable or sizes differ.
    """
    P = opts.patch_size
    src = _load_rgb(group.source)
    mask = _load_mask(group.mask)
    views = [('src', src)]
    for gen, path in group.inpainted:
        img = _load_rgb(path)
        if img.shape != src.shape:
            raise ValueError(f'{path}: size {img.shape[:2]} differs from the source '
                             f'{group.source} {src.shape[:2]}')
        views.append((f'inp-{gen}', img))
    if mask.shape != src.shape[:2]:
        raise ValueError(f'{group.mask}: mask size {mask.shape} differs from the source '
                         f'{group.source} {src.shape[:2]}')
    H, W = mask.shape
    if group.category == 'generated':
        bbox = mask_bbox(mask)
        if bbox is None:
            return [], []
        positions = grid_positions(bbox, opts.grid, P, (H, W))
    else:
        positions = grid_positions((0, H, 0, W), opts.grid, P, (H, W))

    rows: List[dict] = []
    patches: List[np.ndarray] = []

    def add(view: str, img: np.ndarray, r: int, c: int, t: int, l: int, category: str,
            gen: str, positives: List[str]) -> str:
        path = f'{group.key}/{view}_r{r}c{c}'
        rows.append(dict(patch_path=path, image_stem=group.image_id, category=category,
                         generator_model=gen, has_positive=bool(positives),
                         positive_patch_paths=';'.join(positives) if positives else 'none'))
        patches.append(img[t:t + P, l:l + P])
        return path

    for r, c, t, l in positions:
        cover = float(mask[t:t + P, l:l + P].mean())
        if group.category == 'generated':
            if cover < opts.inside_min:
                continue
            gen = group.inpainted[0][0]
            names = [f'{group.key}/{v}_r{r}c{c}' for v, _ in views]
            for i, (v, img) in enumerate(views):
                add(v, img, r, c, t, l, 'generated', gen, names[:i] + names[i + 1:])
        elif cover <= opts.outside_max:
            names = [f'{group.key}/{v}_r{r}c{c}' for v, _ in views]
            for i, (v, img) in enumerate(views):
                add(v, img, r, c, t, l, 'real', REAL_GENERATOR, names[:i] + names[i + 1:])
        elif cover >= opts.inside_min:
            if opts.pool_sources:
                add('src', src, r, c, t, l, 'real', REAL_GENERATOR, [])
            for (gen, _), (v, img) in zip(group.inpainted, views[1:]):
                add(v, img, r, c, t, l, 'generated', gen, [])
    return rows, patches


# --------------------------------------------------------------------------- output
def write_json_atomic(path: str, obj: dict) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (temp file + ``os.replace``)."""
    atomic_write_bytes(path, json.dumps(obj, indent=1, sort_keys=True).encode('utf-8'))


def _manifest_digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def _csv_line(row: dict) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator='\n').writerow([row[k] for k in CSV_COLUMNS])
    return buf.getvalue()


def build_patches(manifest: str, out_dir: str, opts: Optional[BuildOptions] = None,
                  commit_every: int = 32, progress: bool = True) -> dict:
    """Build (or resume building) the patch set of ``manifest`` in ``out_dir``.

    Progress is committed every ``commit_every`` images: a killed build resumes at the
    last commit, truncating any rows written after it, so no row is duplicated. A bad
    image is reported and skipped. Returns the summary (also in ``meta.json``).
    """
    opts = opts or BuildOptions()
    opts.validate()
    records = read_manifest(manifest)
    groups = group_records(records, manifest)
    os.makedirs(out_dir, exist_ok=True)
    data_path = os.path.join(out_dir, DATA_FILE)
    index_path = os.path.join(out_dir, INDEX_FILE)
    state_path = os.path.join(out_dir, STATE_FILE)
    meta_path = os.path.join(out_dir, META_FILE)
    ident = dict(manifest_sha256=_manifest_digest(manifest), options=asdict(opts))
    ident['options']['grid'] = list(opts.grid)
    row_bytes = opts.patch_size * opts.patch_size * 3

    state = dict(ident, groups_done=0, n_rows=0, csv_bytes=0, counts={}, bad=[])
    if os.path.isfile(state_path):
        with open(state_path, encoding='utf-8') as f:
            old = json.load(f)
        if {k: old.get(k) for k in ident} != ident:
            raise ValueError(f'{out_dir} holds a build of another manifest or with other '
                             f'options ({state_path}); use an empty output folder')
        state = old
    elif os.path.exists(index_path) or os.path.exists(data_path):
        raise ValueError(f'{out_dir} already holds {INDEX_FILE}/{DATA_FILE} without a build '
                         f'state; use an empty output folder')
    if state['groups_done'] == 0:
        # the state first: a kill before the header is written still resumes here
        write_json_atomic(state_path, state)
        with open(index_path, 'w', newline='', encoding='utf-8') as f:
            f.write(','.join(CSV_COLUMNS) + '\n')
        open(data_path, 'wb').close()
        state['csv_bytes'] = os.path.getsize(index_path)
        write_json_atomic(state_path, state)
    # Drop anything written after the last commit (a killed build).
    with open(index_path, 'r+b') as f:
        f.truncate(state['csv_bytes'])
    with open(data_path, 'r+b') as f:
        f.truncate(state['n_rows'] * row_bytes)

    counts = Counter({tuple(k.split('|')): v for k, v in state['counts'].items()})
    todo = groups[state['groups_done']:]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(groups), initial=state['groups_done'], unit='img',
                   desc='build_patches')
    with open(index_path, 'a', newline='', encoding='utf-8') as fcsv, open(data_path, 'ab') as fdat:
        for i, group in enumerate(todo, start=state['groups_done'] + 1):
            try:
                rows, patches = extract_group(group, opts)
            except (OSError, ValueError) as err:
                msg = f'{group.key}: {err}'
                state['bad'].append(msg)
                if bar is not None:
                    bar.write(f'skipping bad item {msg}')
                rows, patches = [], []
            if rows:
                fdat.write(np.ascontiguousarray(np.stack(patches), dtype=np.uint8).tobytes())
                lines = []
                for j, row in enumerate(rows):
                    row['master_index'] = state['n_rows'] + j
                    lines.append(_csv_line(row))
                    counts[(row['category'], row['generator_model'],
                            'anchor' if row['has_positive'] else 'pool')] += 1
                fcsv.write(''.join(lines))
                state['n_rows'] += len(rows)
            state['groups_done'] = i
            if bar is not None:
                bar.update(1)
            if i % commit_every == 0 or i == len(groups):
                fcsv.flush()
                fdat.flush()
                os.fsync(fcsv.fileno())
                os.fsync(fdat.fileno())
                state['csv_bytes'] = fcsv.tell()
                state['counts'] = {'|'.join(k): v for k, v in counts.items()}
                write_json_atomic(state_path, state)
    if bar is not None:
        bar.close()
    summary = summarize(counts, state, opts)
    write_json_atomic(meta_path, summary)
    return summary


def summarize(counts: Counter, state: dict, opts: BuildOptions) -> dict:
    """The ``meta.json`` content: shape, options and counts per category/generator."""
    per = {}
    for (cat, gen, kind), n in sorted(counts.items()):
        per.setdefault(f'{cat}/{gen}', {}).setdefault(kind, 0)
        per[f'{cat}/{gen}'][kind] += n
    gens = sorted({g for (c, g, _k) in counts if g != REAL_GENERATOR})
    return dict(
        format='diffusionprint.patches', data_file=DATA_FILE, index_file=INDEX_FILE,
        shape=[state['n_rows'], opts.patch_size, opts.patch_size, 3], dtype='uint8',
        patch_size=opts.patch_size, grid=list(opts.grid), inside_min=opts.inside_min,
        outside_max=opts.outside_max, pool_sources=opts.pool_sources, generators=gens,
        images=state['groups_done'], bad_items=list(state['bad']),
        anchors=sum(n for (c, g, k), n in counts.items() if k == 'anchor'),
        pool=sum(n for (c, g, k), n in counts.items() if k == 'pool'),
        counts=per, manifest_sha256=state['manifest_sha256'])


def format_summary(summary: dict) -> str:
    """Human-readable table of a build summary."""
    lines = [f'{summary["shape"][0]} patches of {summary["patch_size"]}x'
             f'{summary["patch_size"]} from {summary["images"]} images: '
             f'{summary["anchors"]} anchors, {summary["pool"]} hard-negative pool',
             f'{"category/generator":<24}{"anchors":>10}{"pool":>10}']
    for key, val in summary['counts'].items():
        lines.append(f'{key:<24}{val.get("anchor", 0):>10}{val.get("pool", 0):>10}')
    if summary['bad_items']:
        lines.append(f'{len(summary["bad_items"])} bad item(s) skipped:')
        lines += [f'  {b}' for b in summary['bad_items']]
    return '\n'.join(lines)

