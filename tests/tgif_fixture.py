"""Write a tiny TGIF-FR-layout localization set (docs/contracts.md) for tests."""
import os
import os.path as osp
from typing import Dict, Sequence

import cv2
import numpy as np

SPLITS = ('training', 'validation', 'testing')


def _write(path: str, arr: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    assert cv2.imwrite(path, arr), path


def make_tgif_fixture(root: str, generators: Sequence[str] = ('simnn', 'simbl'),
                      mask_types: Sequence[str] = ('segm', 'random'), n_per_split: int = 2,
                      size: int = 32, variations: int = 1, seed: int = 0) -> Dict[str, int]:
    """Create images, masks and list files; the forged region is visibly noisier."""
    rng = np.random.default_rng(seed)
    counts: Dict[str, int] = {}
    lists: Dict[str, list] = {}
    for split in SPLITS:
        for i in range(n_per_split):
            image_id = f'{(SPLITS.index(split) * 100 + i + 1):012d}'
            base = rng.integers(60, 200, size=(size, size, 3), dtype=np.uint8)
            orig_rel = f'original/{split}/{image_id}_orig_{size}.png'
            _write(osp.join(root, orig_rel), base)
            lists.setdefault(f'{split}_auth', []).append(f'{orig_rel} None 0')
            for mask_type in mask_types:
                mask = np.zeros((size, size), np.uint8)
                y0, x0 = rng.integers(0, size // 2, size=2)
                mask[y0:y0 + size // 2, x0:x0 + size // 2] = 255
                mask_rel = f'masks/{split}/{image_id}_mask_{mask_type}_{size}.png'
                _write(osp.join(root, mask_rel), mask)
                for gen in generators:
                    for var in range(variations):
                        img = base.copy()
                        noise = rng.integers(-40, 40, size=img.shape)
                        sel = mask > 0
                        img[sel] = np.clip(img[sel] + noise[sel], 0, 255).astype(np.uint8)
                        rel = (f'{gen}-fr/{split}/{image_id}_mask_{mask_type}.png_'
                               f'{gen}-{size}_{var}.png')
                        _write(osp.join(root, rel), img)
                        lists.setdefault(f'{split}_{gen}_{mask_type}', []).append(
                            f'{rel} {mask_rel} 1')
    for name, lines in lists.items():
        path = osp.join(root, 'lists', f'{name}.txt')
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        counts[name] = len(lines)
    return counts
