#!/usr/bin/env python
"""Measure the simulator's properties that tests/test_simulate.py asserts (with margins).

    python benchmarks/simulator_properties.py [--n 12]

Prints, per generator: band-power ratio regen/src outside the mask in [0.2, 0.5], colour
offset inside-vs-surround, and the accuracy of a nearest-centroid generator classifier on
residual statistics (chance = 0.25).
"""
import argparse
import time

import numpy as np
from scipy import ndimage

from dp_plugin.simulate import GENERATORS, make_mask, random_crop, regenerate
from dp_plugin.simulate.spectra import band_power, grid_patches, residual_features, to_gray
from dp_plugin.simulate.writers import single_thread


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument('--n', type=int, default=12, help='images per measurement')
    args = p.parse_args()
    gens = list(GENERATORS)
    rng = np.random.default_rng(123)
    data = []
    for i in range(args.n):
        img, _ = random_crop(rng, 128)
        data.append((img, make_mask(rng, 128, 'segm' if i % 2 else 'random')))
    with single_thread():
        t0 = time.time()
        for g in gens:
            src, reg, col = [], [], []
            for i, (img, m) in enumerate(data):
                out = regenerate(img, m, g, seed=i)
                for y, x in grid_patches(img, m, 32, inside=False):
                    src.append(to_gray(img[y:y + 32, x:x + 32]))
                    reg.append(to_gray(out[y:y + 32, x:x + 32]))
                ring = ndimage.binary_dilation(m, iterations=8) & ~m
                o = out.astype(float) / 255
                col.append(np.abs(o[m].mean(0) - o[ring].mean(0)))
            ratio = band_power(np.array(reg)).mean() / band_power(np.array(src)).mean()
            print(f'{g}: band power regen/src (outside mask) = {ratio:.3f}; '
                  f'|mean colour inside - 8px ring| = {np.round(np.mean(col, 0), 3).tolist()}')
        per_img = (time.time() - t0) / (len(gens) * len(data))
        feats = {g: [residual_features(regenerate(img, None, g, seed=i)) for i, (img, _) in enumerate(data)]
                 for g in gens}
    half = len(data) // 2
    mu = {g: np.mean(v[:half], 0) for g, v in feats.items()}
    sd = np.concatenate([v[:half] for v in feats.values()]).std(0) + 1e-6
    hits = [min(gens, key=lambda k: (((f - mu[k]) / sd) ** 2).sum()) == g for g in gens for f in feats[g][half:]]
    print(f'nearest-centroid generator accuracy on held-out crops: {np.mean(hits):.3f} (chance 0.25)')
    print(f'{per_img * 1000:.1f} ms per 128-px regeneration (1 thread)')


if __name__ == '__main__':
    main()
