"""Reading a patch set: the authors' index CSV + one uint8 memmap ``(N, P, P, 3)``."""
import csv
import json
import os
from dataclasses import dataclass
from typing import Optional

import numpy as np

REAL_CATEGORY = 'real'


@dataclass
class PatchIndex:
    """A patch set in arrays (one entry per CSV row, ordered as the CSV).

    ``positives`` is CSR: the positives of row ``i`` are the memmap rows
    ``pos_rows[pos_ptr[i]:pos_ptr[i + 1]]``.
    """
    data_file: str
    patch_size: int
    num_rows: int
    master_index: np.ndarray  # (R,) int64 memmap row of each CSV row
    image_stem: np.ndarray  # (R,) object
    category: np.ndarray  # (R,) int8, 0 real / 1 generated
    generator: np.ndarray  # (R,) object, 'none' for real
    has_positive: np.ndarray  # (R,) bool
    pos_ptr: np.ndarray  # (R + 1,) int64
    pos_rows: np.ndarray  # (E,) int64 memmap rows

    def open_memmap(self) -> np.memmap:
        return np.memmap(self.data_file, dtype=np.uint8, mode='r',
                         shape=(self.num_rows, self.patch_size, self.patch_size, 3))


def _patch_size(data_root: str, patch_size: Optional[int]) -> int:
    meta = os.path.join(data_root, 'meta.json')
    if patch_size is None and os.path.isfile(meta):
        with open(meta) as f:
            patch_size = int(json.load(f)['patch_size'])
    return 64 if patch_size is None else int(patch_size)  # the authors' fixed size


def load_patch_index(data_root: str, ann_file: str = 'patches.csv',
                     data_file: str = 'patches.dat',
                     patch_size: Optional[int] = None) -> PatchIndex:
    """Load a patch set written by ``tools/build_patches.py`` or the authors' tooling.

    ``patch_size`` defaults to ``meta.json``'s, else 64. Raises ValueError naming the
    file when a column is missing, the memmap size is not a multiple of a patch, or a
    row points outside the memmap.
    """
    csv_path = os.path.join(data_root, ann_file)
    dat_path = os.path.join(data_root, data_file)
    for path in (csv_path, dat_path):
        if not os.path.isfile(path):
            raise FileNotFoundError(f'patch set file not found: {path}')
    P = _patch_size(data_root, patch_size)
    size = os.path.getsize(dat_path)
    if size % (P * P * 3):
        raise ValueError(f'{dat_path}: {size} bytes is not a multiple of one {P}x{P}x3 '
                         f'uint8 patch; wrong patch_size?')
    num_rows = size // (P * P * 3)
    with open(csv_path, newline='') as f:
        reader = csv.DictReader(f)
        need = {'patch_path', 'master_index', 'image_stem', 'category', 'generator_model',
                'has_positive', 'positive_patch_paths'}
        missing = need - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f'{csv_path}: missing columns {sorted(missing)}')
        rows = list(reader)
    path_to_row = {r['patch_path']: int(r['master_index']) for r in rows}
    master = np.array([int(r['master_index']) for r in rows], dtype=np.int64)
    if master.size and (master.min() < 0 or master.max() >= num_rows):
        raise ValueError(f'{csv_path}: master_index outside the {num_rows} rows of {dat_path}')
    ptr = [0]
    pos: list = []
    has_pos = np.zeros(len(rows), dtype=bool)
    for i, r in enumerate(rows):
        has_pos[i] = r['has_positive'].strip().lower() in ('true', '1')
        if has_pos[i]:
            for name in r['positive_patch_paths'].split(';'):
                name = name.strip()
                if name and name != 'none':
                    if name not in path_to_row:
                        raise ValueError(f'{csv_path}: row {r["patch_path"]} names an '
                                         f'unknown positive {name}')
                    pos.append(path_to_row[name])
        ptr.append(len(pos))
    return PatchIndex(
        data_file=dat_path, patch_size=P, num_rows=num_rows, master_index=master,
        image_stem=np.array([r['image_stem'] for r in rows], dtype=object),
        category=np.array([0 if r['category'] == REAL_CATEGORY else 1 for r in rows],
                          dtype=np.int8),
        generator=np.array([r['generator_model'] for r in rows], dtype=object),
        has_positive=has_pos, pos_ptr=np.array(ptr, dtype=np.int64),
        pos_rows=np.array(pos, dtype=np.int64))
