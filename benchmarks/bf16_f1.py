"""F1@0.5 of a trained localizer in fp32 and in bf16 on a TGIF-layout testing split.

Runs :class:`dp_plugin.apis.inference.Localizer` twice per image (``precision='fp32'``
and ``'bf16'``, alternating) over every forged image of the ``testing_*`` lists
(``list file: image mask label``), and prints the per-image mean F1@0.5 of each (the
metric of the demo's REPORT.md: ``2TP / (2TP + FP + FN)``, an empty prediction on a
non-empty mask scores 0), the largest per-image F1 change, the largest change of the
forgery map, and the wall time of each precision.

    python benchmarks/bf16_f1.py --config demo_out/models/lite_dp/config.py \\
        --checkpoint demo_out/models/lite_dp/best.pth --data-root demo_out/data/localization
"""
import argparse
import glob
import os
import os.path as osp
import sys
import time

import numpy as np

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))

from dp_plugin.apis.image_io import read_image, read_mask  # noqa: E402
from dp_plugin.apis.inference import Localizer  # noqa: E402
from dp_plugin.evaluation.functional import f1_at  # noqa: E402


def forged_items(root: str, split: str) -> list:
    items = []
    for path in sorted(glob.glob(osp.join(root, 'lists', f'{split}_*.txt'))):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[2] == '1' and parts[1] != 'None':
                    items.append((osp.join(root, parts[0]), osp.join(root, parts[1])))
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', required=True)
    parser.add_argument('--checkpoint', required=True)
    parser.add_argument('--data-root', required=True)
    parser.add_argument('--split', default='testing')
    parser.add_argument('--threads', type=int, default=None)
    args = parser.parse_args()
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    items = forged_items(args.data_root, args.split)
    if not items:
        raise SystemExit(f'no forged images in {args.data_root}/lists/{args.split}_*.txt')
    localizers = {p: Localizer(args.config, args.checkpoint, precision=p)
                  for p in ('fp32', 'bf16')}
    print(f'{len(items)} forged {args.split} images; bf16 active: '
          f'{localizers["bf16"].amp_dtype == torch.bfloat16}; load {os.getloadavg()[0]:.2f}')
    f1 = {p: [] for p in localizers}
    seconds = {p: 0.0 for p in localizers}
    max_map_diff = 0.0
    for k, (img_path, mask_path) in enumerate(items):
        rgb, gt = read_image(img_path)[0], read_mask(mask_path)
        maps = {}
        for p in (('fp32', 'bf16') if k % 2 == 0 else ('bf16', 'fp32')):
            t0 = time.perf_counter()
            maps[p] = localizers[p](rgb).map
            seconds[p] += time.perf_counter() - t0
            f1[p].append(f1_at(maps[p], gt, 0.5))
        max_map_diff = max(max_map_diff, float(np.abs(maps['bf16'] - maps['fp32']).max()))
    mean = {p: 100 * float(np.mean(v)) for p, v in f1.items()}
    change = 100 * max(abs(a - b) for a, b in zip(f1['fp32'], f1['bf16']))
    print(f'F1@0.5 (per-image mean, %): fp32 {mean["fp32"]:.2f}, bf16 {mean["bf16"]:.2f}, '
          f'difference {mean["bf16"] - mean["fp32"]:+.2f} points (bound: 0.5)')
    print(f'largest per-image F1 change {change:.2f} points; largest map change '
          f'{max_map_diff:.4f}')
    print(f'wall: fp32 {seconds["fp32"]:.1f} s, bf16 {seconds["bf16"]:.1f} s '
          f'({seconds["fp32"] / seconds["bf16"]:.2f}x); load {os.getloadavg()[0]:.2f}')


if __name__ == '__main__':
    main()
