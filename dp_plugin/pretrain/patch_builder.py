"""Patch-pair builder: inpainting manifest -> uint8 memmap + index CSV (paper §3.4, §4.1).

The output is interchangeable with the DiffusionPrint authors' patch files: one raw
``uint8`` memmap ``patches.dat`` of shape ``(N, P, P, 3)`` and an index CSV with the
columns :data:`CSV_COLUMNS`. ``meta.json`` records the shape and build options.

Pair rules (the paper's layout, §3.4 and §4.1; M x N grid of P x P patches, aligned
before and after inpainting):

* **inside-mask grid** (every image): the M x N grid laid over the mask's bounding box,
  overlap allowed, so a mask box of at least P + M - 1 by P + N - 1 pixels gives
  M x N = 16 positions; positions whose mask coverage is ``< inside_min`` are skipped
  (none on a rectangular mask);

  - generated image (one record): each position gives the positive pair
    (source, inpainted);
  - real image (K records, one per generator, same source and mask): each position
    goes to the hard-negative pool (``has_positive=False``): the untouched source
    patch as ``real`` and its K inpainted patches as ``generated``;

* **outside-mask grid** (real images): the M x N grid over the whole image, adapted
  (along an axis of length L at most ``L // P`` patches, so centres are >= P pixels
  apart); positions with coverage ``<= outside_max`` give K + 1 mutual positives
  (source + K reconstructions), the others are skipped.

So 10 000 generated images of one model give 10 000 x 16 x 2 = 320 000 patches and
10 000 real images with K = 3 a pool of 10 000 x 16 x 4 = 640 000 (paper §4.1).
"""
import csv
import hashlib
import io
import json
import multiprocessing
import os
import time
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

    def validate(self) -> None:
        if self.patch_size < 1:
            raise ValueError(f'patch_size must be >= 1, got {self.patch_size}')
        if len(self.grid) != 2 or min(self.grid) < 1:
            raise ValueError(f'grid must be two positive ints (rows, cols), got {self.grid}')
        if not 0.0 <= self.inside_min <= 1.0:
            raise ValueError(f'inside_min must be in [0, 1], got {self.inside_min}')
        if not 0.0 <= self.outside_max < 1.0:
            raise ValueError(f'outside_max must be in [0, 1), got {self.outside_max}')


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


def overlapping_starts(lo: int, hi: int, count: int, patch: int, size: int) -> List[int]:
    """Starts of ``count`` patches spread evenly over ``[lo, hi)``, overlap allowed.

    A region shorter than a patch gets one patch centred on it (clamped to the image);
    starts that round to the same pixel are kept once.
    """
    if size < patch:
        return []
    if hi - lo < patch:
        return axis_starts(lo, hi, 1, patch, size)
    starts = [int(round(v)) for v in np.linspace(lo, hi - patch, count)]
    return sorted(set(starts))


def grid_positions(region: Tuple[int, int, int, int], grid: Tuple[int, int], patch: int,
                   shape: Tuple[int, int],
                   adapt: bool = True) -> List[Tuple[int, int, int, int]]:
    """``(row, col, top, left)`` of the grid over ``region = (y0, y1, x0, x1)``: adapted
    (centres >= ``patch`` apart, :func:`axis_starts`) or overlapping
    (:func:`overlapping_starts`)."""
    y0, y1, x0, x1 = region
    starts = axis_starts if adapt else overlapping_starts
    tops = starts(y0, y1, grid[0], patch, shape[0])
    lefts = starts(x0, x1, grid[1], patch, shape[1])
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
    bbox = mask_bbox(mask)
    inside = [] if bbox is None else grid_positions(bbox, opts.grid, P, (H, W), adapt=False)
    outside = [] if group.category == 'generated' else grid_positions(
        (0, H, 0, W), opts.grid, P, (H, W))

    rows: List[dict] = []
    patches: List[np.ndarray] = []

    def add(name: str, img: np.ndarray, t: int, l: int, category: str, gen: str,
            positives: List[str]) -> None:
        rows.append(dict(patch_path=name, image_stem=group.image_id, category=category,
                         generator_model=gen, has_positive=bool(positives),
                         positive_patch_paths=';'.join(positives) if positives else 'none'))
        patches.append(img[t:t + P, l:l + P])

    def cover(t: int, l: int) -> float:
        return float(mask[t:t + P, l:l + P].mean())

    for r, c, t, l in inside:
        if cover(t, l) < opts.inside_min:
            continue
        names = [f'{group.key}/{v}_in_r{r}c{c}' for v, _ in views]
        if group.category == 'generated':
            gen = group.inpainted[0][0]
            for i, (_v, img) in enumerate(views):
                add(names[i], img, t, l, 'generated', gen, names[:i] + names[i + 1:])
        else:  # the hard-negative pool: the source (authentic) and its K inpaintings
            add(names[0], src, t, l, 'real', REAL_GENERATOR, [])
            for name, (gen, _), (_v, img) in zip(names[1:], group.inpainted, views[1:]):
                add(name, img, t, l, 'generated', gen, [])
    for r, c, t, l in outside:
        if cover(t, l) > opts.outside_max:
            continue
        names = [f'{group.key}/{v}_r{r}c{c}' for v, _ in views]
        for i, (_v, img) in enumerate(views):
            add(names[i], img, t, l, 'real', REAL_GENERATOR, names[:i] + names[i + 1:])
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


def _extract_timed(group: Group, opts: BuildOptions) -> tuple:
    """``(rows, patch bytes, error or None, seconds)`` of one group (runs in the
    workers); seconds are this process's CPU time."""
    t0 = time.process_time()
    try:
        rows, patches = extract_group(group, opts)
        err = None
    except (OSError, ValueError) as exc:
        rows, patches, err = [], [], f'{group.key}: {exc}'
    block = np.stack(patches).astype(np.uint8, copy=False).tobytes() if rows else b''
    return rows, block, err, time.process_time() - t0


def _worker(args: tuple) -> tuple:
    return _extract_timed(*args)


def _extracted(todo: Sequence[Group], opts: BuildOptions, jobs: int):
    """Yield the extraction of each group of ``todo`` in order; ``jobs`` processes."""
    if jobs <= 1:
        for group in todo:
            yield _extract_timed(group, opts)
        return
    ctx = multiprocessing.get_context('fork' if 'fork' in multiprocessing.get_all_start_methods()
                                      else 'spawn')
    with ctx.Pool(jobs) as pool:
        yield from pool.imap(_worker, ((g, opts) for g in todo), chunksize=4)


def build_patches(manifest: str, out_dir: str, opts: Optional[BuildOptions] = None,
                  commit_every: int = 32, progress: bool = True, jobs: int = 1) -> dict:
    """Build (or resume building) the patch set of ``manifest`` in ``out_dir``.

    Progress is committed every ``commit_every`` images: a killed build resumes at the
    last commit, truncating any rows written after it, so no row is duplicated. A bad
    image is reported and skipped. ``jobs`` processes extract the patches; the output is
    the same for every ``jobs`` (written in manifest order). Returns the summary (also in
    ``meta.json``), with this run's speed under ``timing``.
    """
    opts = opts or BuildOptions()
    opts.validate()
    if jobs < 1:
        raise ValueError(f'jobs must be >= 1, got {jobs}')
    records = read_manifest(manifest)
    groups = group_records(records, manifest)
    os.makedirs(out_dir, exist_ok=True)
    data_path = os.path.join(out_dir, DATA_FILE)
    index_path = os.path.join(out_dir, INDEX_FILE)
    state_path = os.path.join(out_dir, STATE_FILE)
    meta_path = os.path.join(out_dir, META_FILE)
    ident = dict(manifest_sha256=_manifest_digest(manifest), options=asdict(opts))
    ident['options']['grid'] = list(opts.grid)

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
        f.truncate(state['n_rows'] * opts.patch_size * opts.patch_size * 3)

    counts = Counter({tuple(k.split('|')): v for k, v in state['counts'].items()})
    todo = groups[state['groups_done']:]
    seconds: Counter = Counter()  # extraction CPU seconds per category, this run
    done: Counter = Counter()
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(groups), initial=state['groups_done'], unit='img',
                   desc='build_patches')
    start = time.perf_counter()
    with open(index_path, 'a', newline='', encoding='utf-8') as fcsv, open(data_path, 'ab') as fdat:
        for i, (group, (rows, block, err, sec)) in enumerate(
                zip(todo, _extracted(todo, opts, jobs)), start=state['groups_done'] + 1):
            if err is not None:
                state['bad'].append(err)
                if bar is not None:
                    bar.write(f'skipping bad item {err}')
            seconds[group.category] += sec
            done[group.category] += 1
            if rows:
                fdat.write(block)
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
    wall = time.perf_counter() - start
    if bar is not None:
        bar.close()
    summary = summarize(counts, state, opts, groups)
    summary['timing'] = timing(wall, seconds, done, jobs)
    write_json_atomic(meta_path, summary)
    return summary


#: The paper's Dragon training layout (§4.1): 10 000 real + 3 x 10 000 generated images.
DRAGON_LAYOUT = dict(real=10000, generated=30000)


def timing(wall: float, seconds: Counter, done: Counter, jobs: int) -> dict:
    """Images/s of this run and the projected time of :data:`DRAGON_LAYOUT`.

    Each category's per-image cost is its mean extraction CPU time (a real image reads
    K + 2 files, a generated one 3). ``projected_dragon_s`` scales it by this run's
    wall / CPU ratio (the same machine load and ``jobs``); ``projected_dragon_idle_s``
    assumes every job has a core of its own. Both hold for this set's image sizes.
    """
    n = sum(done.values())
    out = dict(jobs=jobs, images=n, wall_s=round(wall, 3),
               cpu_s=round(sum(seconds.values()), 3),
               images_per_s=round(n / wall, 2) if wall > 0 and n else None,
               projected_dragon_s=None, projected_dragon_idle_s=None)
    cpu = sum(seconds.values())
    if n and cpu > 0:
        per = {c: seconds[c] / done[c] for c in done if done[c]}
        fallback = cpu / n
        dragon_cpu = sum(k * per.get(c, fallback) for c, k in DRAGON_LAYOUT.items())
        out['projected_dragon_s'] = round(dragon_cpu * wall / cpu, 1)
        out['projected_dragon_idle_s'] = round(dragon_cpu / jobs, 1)
    return out


def summarize(counts: Counter, state: dict, opts: BuildOptions,
              groups: Sequence[Group] = ()) -> dict:
    """The ``meta.json`` content: shape, options, counts per category and generator, and
    the counts the paper's formulas give for this manifest (``expected``)."""
    per = {}
    for (cat, gen, kind), n in sorted(counts.items()):
        per.setdefault(f'{cat}/{gen}', {}).setdefault(kind, 0)
        per[f'{cat}/{gen}'][kind] += n
    by_cat = {kind: {cat: sum(n for (c, _g, k), n in counts.items() if c == cat and k == kind)
                     for cat in CATEGORIES} for kind in ('anchor', 'pool')}
    gens = sorted({g for (c, g, _k) in counts if g != REAL_GENERATOR})
    positions = opts.grid[0] * opts.grid[1]
    real = [g for g in groups if g.category == 'real']
    gen_images = Counter(g.inpainted[0][0] for g in groups if g.category == 'generated')
    expected = dict(
        positions_per_image=positions,
        generated_anchors_per_model={g: n * positions * 2 for g, n in sorted(gen_images.items())},
        pool=sum(positions * (1 + len(g.inpainted)) for g in real),
        real_anchors_at_most=sum(positions * (1 + len(g.inpainted)) for g in real))
    return dict(
        format='diffusionprint.patches', data_file=DATA_FILE, index_file=INDEX_FILE,
        shape=[state['n_rows'], opts.patch_size, opts.patch_size, 3], dtype='uint8',
        patch_size=opts.patch_size, grid=list(opts.grid), inside_min=opts.inside_min,
        outside_max=opts.outside_max, layout='paper', generators=gens,
        images=state['groups_done'], bad_items=list(state['bad']),
        anchors=sum(by_cat['anchor'].values()), pool=sum(by_cat['pool'].values()),
        by_category=by_cat, counts=per, expected=expected,
        manifest_sha256=state['manifest_sha256'])


def format_summary(summary: dict) -> str:
    """Human-readable table of a build summary, its paper-formula check and speed."""
    cat = summary['by_category']
    lines = [f'{summary["shape"][0]} patches of {summary["patch_size"]}x'
             f'{summary["patch_size"]} from {summary["images"]} images: '
             f'{summary["anchors"]} anchors (real {cat["anchor"]["real"]}, generated '
             f'{cat["anchor"]["generated"]}), {summary["pool"]} hard-negative pool (real '
             f'{cat["pool"]["real"]}, generated {cat["pool"]["generated"]})',
             f'{"category/generator":<24}{"anchors":>10}{"pool":>10}']
    for key, val in summary['counts'].items():
        lines.append(f'{key:<24}{val.get("anchor", 0):>10}{val.get("pool", 0):>10}')
    exp = summary['expected']
    got = {g: summary['counts'].get(f'generated/{g}', {}).get('anchor', 0)
           for g in exp['generated_anchors_per_model']}
    lines.append(f'paper formulas ({exp["positions_per_image"]} inside-mask positions per '
                 f'image): generated anchors per model {got} of '
                 f'{exp["generated_anchors_per_model"]}; pool {summary["pool"]} of '
                 f'{exp["pool"]}; real anchors {cat["anchor"]["real"]} of at most '
                 f'{exp["real_anchors_at_most"]} (outside-mask grid adapted)')
    t = summary.get('timing') or {}
    if t.get('images_per_s') and t.get('projected_dragon_s'):
        proj, idle = t['projected_dragon_s'], t['projected_dragon_idle_s']
        lines.append(f'{t["images"]} images in {t["wall_s"]:.1f} s with --jobs {t["jobs"]}: '
                     f'{t["images_per_s"]:.1f} images/s ({t["cpu_s"]:.1f} s extraction CPU); '
                     f'projected for the paper\'s Dragon layout (10 000 real + 30 000 '
                     f'generated, this set\'s image size): {proj:.0f} s ({proj / 3600:.2f} h) '
                     f'at this load, {idle:.0f} s with a free core per job')
    if summary['bad_items']:
        lines.append(f'{len(summary["bad_items"])} bad item(s) skipped:')
        lines += [f'  {b}' for b in summary['bad_items']]
    return '\n'.join(lines)
