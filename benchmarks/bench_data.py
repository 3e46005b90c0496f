"""Throughput of the pretraining data pipeline: PatchPairDataset + DataLoader workers.

Writes a synthetic patch set in the authors' CSV + uint8 memmap format (groups of
``1 + positives`` mutual positives, as real patches with their K reconstructions, plus
hard-negative pool patches), then reads it the way training does: a shuffled
``DataLoader`` with ``--workers`` worker processes and ``patch_pair_collate`` (the
config's ``collate_fn``; ``--collate patch default`` adds ``default_collate`` side by side).
Each anchor delivers ``1 + positives`` views and one pool patch.

Prints anchors/s (best and median over ``--rounds`` timed passes after a warm-up), the
bytes/s that means, the load average, and checks that every batch is uint8. Each pass
also reports anchors per CPU-second (main process plus workers, from /proc): on a
shared machine wall time depends on the load, CPU time much less, and
``anchors per CPU-second x workers`` is what the workers deliver on free cores.

    python benchmarks/bench_data.py                       # 2 workers, batch 256, 64 px
    python benchmarks/bench_data.py --workers 2 --anchors 40000 --batch 512
"""
import argparse
import csv
import json
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, default_collate

sys.path.insert(0, osp.join(osp.dirname(osp.abspath(__file__)), '..'))

from dp_plugin.pretrain.patch_batch import patch_pair_collate  # noqa: E402
from dp_plugin.pretrain.patch_builder import CSV_COLUMNS  # noqa: E402
from dp_plugin.pretrain.patch_pair_dataset import PatchPairDataset  # noqa: E402

GENERATORS = ('simnn', 'simbl', 'simtc')


def write_patch_set(root: str, groups: int, positives: int, pool: int, size: int,
                    seed: int = 0) -> int:
    """``groups`` x ``(1 + positives)`` mutual-positive rows + ``pool`` pool rows."""
    rng = np.random.default_rng(seed)
    per = 1 + positives
    rows = groups * per + pool
    data = np.memmap(osp.join(root, 'patches.dat'), dtype=np.uint8, mode='w+',
                     shape=(rows, size, size, 3))
    chunk = 4096
    for i in range(0, rows, chunk):
        data[i:i + chunk] = rng.integers(0, 256, data[i:i + chunk].shape, dtype=np.uint8)
    data.flush()
    del data
    with open(osp.join(root, 'patches.csv'), 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for g in range(groups):
            names = [f'g{g}_{k}.png' for k in range(per)]
            gen = GENERATORS[g % len(GENERATORS)]
            for k in range(per):
                cat, model = ('real', 'none') if k == 0 else ('generated', gen)
                pos = ';'.join(n for j, n in enumerate(names) if j != k)
                w.writerow([names[k], g * per + k, f'img{g}', cat, model, 'True', pos])
        for p in range(pool):
            w.writerow([f'pool{p}.png', groups * per + p, f'pool{p}', 'generated',
                        GENERATORS[p % len(GENERATORS)], 'False', 'none'])
    with open(osp.join(root, 'meta.json'), 'w') as f:
        json.dump(dict(patch_size=size), f)
    return rows


def worker_cpu(it) -> float:
    """CPU seconds used so far by the worker processes of a DataLoader iterator."""
    total = 0.0
    for w in getattr(it, '_workers', []):
        with open(f'/proc/{w.pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')
    return total


def timed_pass(it, batches: int) -> tuple:
    """(anchors, wall s, CPU s of this process and the workers) over the next ``batches``
    batches of the DataLoader iterator ``it``; checks dtypes."""
    n = 0
    c0, t0, w0 = time.process_time(), time.perf_counter(), worker_cpu(it)
    for _ in range(batches):
        batch = next(it)
        assert batch['views'].dtype == torch.uint8 and batch['neg'].dtype == torch.uint8
        n += batch['views'].shape[0]
    wall = time.perf_counter() - t0
    return n, wall, time.process_time() - c0 + worker_cpu(it) - w0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--anchors', type=int, default=20000, help='anchor rows')
    parser.add_argument('--positives', type=int, default=3, help='positives per anchor')
    parser.add_argument('--pool', type=int, default=10000, help='pool (hard-negative) rows')
    parser.add_argument('--size', type=int, default=64, help='patch size')
    parser.add_argument('--batch', type=int, default=256)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--batches', type=int, default=20, help='batches per timed pass')
    parser.add_argument('--rounds', type=int, default=3, help='timed passes')
    parser.add_argument('--target', type=float, default=20000, help='anchors/s to reach')
    parser.add_argument('--root', help='existing folder for the synthetic set (kept)')
    parser.add_argument('--collate', choices=('patch', 'default'), nargs='+',
                        default=['patch'], help='collate functions to compare')
    args = parser.parse_args()
    torch.set_num_threads(1)

    tmp = None if args.root else tempfile.TemporaryDirectory(prefix='bench_data_')
    root = args.root or tmp.name
    os.makedirs(root, exist_ok=True)
    per = 1 + args.positives
    groups = max(1, args.anchors // per)
    if not osp.isfile(osp.join(root, 'patches.csv')):
        t0 = time.perf_counter()
        rows = write_patch_set(root, groups, args.positives, args.pool, args.size)
        print(f'wrote {rows} rows ({rows * args.size ** 2 * 3 / 2 ** 20:.0f} MiB) in '
              f'{time.perf_counter() - t0:.1f} s to {root}')
    dataset = PatchPairDataset(root, generators=GENERATORS, max_positives=args.positives)
    item_bytes = (per + 1) * 3 * args.size ** 2
    print(f'{len(dataset)} anchors, {dataset.metainfo["pool"]} pool patches, '
          f'{per} views + 1 pool patch of {args.size}^2 uint8 per anchor '
          f'({item_bytes / 1024:.0f} KiB), batch {args.batch}, torch {torch.__version__}')

    collates = dict(patch=patch_pair_collate, default=default_collate)

    def loader(workers: int, collate: str) -> DataLoader:
        return DataLoader(dataset, batch_size=args.batch, shuffle=True, num_workers=workers,
                          drop_last=True,
                          collate_fn=collates[collate],
                          prefetch_factor=4 if workers else None)

    warmup = 2 * max(args.workers, 1)
    batches = min(args.batches, (len(dataset) // args.batch - warmup) // args.rounds)
    results = {}
    for collate in args.collate:
        for workers in sorted({0, args.workers}):
            # one epoch: warm-up (workers start, page cache filled, prefetch queue full),
            # then the timed passes back to back, so no prefetched batch is thrown away
            it = iter(loader(workers, collate))
            timed_pass(it, warmup)
            rates, cpu_rates = [], []
            for _ in range(args.rounds):
                n, wall, cpu = timed_pass(it, batches)
                rates.append(n / wall)
                cpu_rates.append(n / cpu if cpu > 0 else float('nan'))
            results[collate, workers] = rates
            load = os.getloadavg()[0]
            cpu_rate = statistics.median(cpu_rates)
            print(f'{collate}_collate, workers {workers}: {max(rates):8.0f} anchors/s best, '
                  f'{statistics.median(rates):8.0f} median '
                  f'({max(rates) * item_bytes / 2 ** 20:.0f} MiB/s), load {load:.2f}; '
                  f'{cpu_rate:.0f} anchors per CPU-second (x {max(workers, 1)} cores = '
                  f'{cpu_rate * max(workers, 1):.0f})')
            del it
    best = max(results[args.collate[0], args.workers])
    verdict = 'OK' if best >= args.target else 'BELOW TARGET'
    print(f'{args.collate[0]}_collate, {args.workers} workers: {best:.0f} anchors/s '
          f'(target >= {args.target:.0f}): {verdict}; batches are uint8')
    if tmp is not None:
        tmp.cleanup()


if __name__ == '__main__':
    main()
