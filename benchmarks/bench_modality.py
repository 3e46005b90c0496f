"""Benchmark the frozen DiffusionPrint forward on this machine.

Prints, in one run:
  * the optimised frozen forward (BN folded, fastest layout) against a naive eager fp32
    NCHW ``nn.Sequential`` holding the same weights (speed-up ratio);
  * the same frozen forward with ``precision='bf16'`` (where the CPU/GPU has native bf16):
    its ratio to the fp32 fast path and to the naive forward, and the error of its
    64-channel map against fp32 (max |diff| / max |fp32| and relative L2);
  * the achieved GFLOP/s of both (FLOPs counted from the layers: 1.18 MFLOP/pixel at C=64);
  * the fp32 GEMM rate of the same machine (``torch.mm`` of large squares), measured in
    the same run, and the fraction of it the optimised forward reaches;
  * optionally the peak RSS and time of a tiled forward on a 4096x4096 image (run in a
    child process so its peak memory is its own).

Example::

    python benchmarks/bench_modality.py                 # 512x512, best of 3
    python benchmarks/bench_modality.py --big 4096      # + tiled 4096^2 peak memory
    python benchmarks/bench_modality.py --layouts       # every inference layout
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch
import torch.nn as nn

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.append(os.path.join(REPO, 'tests'))  # _helpers, shared with tests/test_bf16.py

from dp_plugin.modalities import DiffusionPrint  # noqa: E402
from dp_plugin.modalities.fast_dncnn import native_bf16  # noqa: E402
from _helpers import trained_bn  # noqa: E402  (realistic BN statistics: folding is no no-op)


def conv_flops_per_pixel(net: nn.Module) -> int:
    """2 * multiply-adds per output pixel of every 3x3 convolution (BN/ReLU not counted)."""
    return sum(2 * m.in_channels * m.out_channels * m.kernel_size[0] * m.kernel_size[1]
               for m in net.modules() if isinstance(m, nn.Conv2d))


def child_tiled_run(size: int, tile: int, threads: int) -> None:
    """Child-process body: one tiled forward on a size x size image."""
    torch.set_num_threads(threads)
    modality = trained_bn(DiffusionPrint(tile_size=tile))
    x = torch.rand(1, 3, size, size)
    t0 = time.perf_counter()
    out = modality(x)
    elapsed = time.perf_counter() - t0
    assert out.shape == (1, 64, size, size)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # KiB -> GiB
    print(json.dumps(dict(seconds=elapsed, peak_rss_gib=peak)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=512, help='square input side')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=torch.get_num_threads())
    parser.add_argument('--gemm-size', type=int, default=3072)
    parser.add_argument('--layouts', action='store_true',
                        help='also time every inference layout')
    parser.add_argument('--tiles', type=int, nargs='*', default=[],
                        help='also time tiled forwards with these tile sizes')
    parser.add_argument('--big', type=int, default=0,
                        help='side of the tiled peak-memory run (e.g. 4096); 0 skips it')
    parser.add_argument('--big-tile', type=int, default=512)
    parser.add_argument('--_child', nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._child:
        child_tiled_run(*args._child)
        return

    torch.set_num_threads(args.threads)
    modality = trained_bn(DiffusionPrint())
    naive = nn.Sequential(*[m for m in modality.dncnn]).eval()  # same weights, NCHW
    flops_px = conv_flops_per_pixel(modality.dncnn)
    pixels = args.batch * args.size ** 2
    x = torch.rand(args.batch, 3, args.size, args.size)
    print(f'torch {torch.__version__}, {args.threads} threads, mkldnn '
          f'{torch.backends.mkldnn.is_available()}, input {tuple(x.shape)}')
    print(f'DnCNN cost: {flops_px / 1e6:.4f} MFLOP/pixel (2 x MACs of 17 3x3 convs, C=64)')

    a, b = torch.randn(args.gemm_size, args.gemm_size), torch.randn(args.gemm_size, args.gemm_size)
    variants = {'naive': lambda: naive(x), 'optimised': lambda: modality(x)}
    bf16 = None
    if native_bf16(x.device):
        bf16 = DiffusionPrint(precision='bf16')
        bf16.load_state_dict(modality.state_dict())
        variants['bf16'] = lambda: bf16(x)
    if args.layouts:
        for layout in ('mkldnn_fused', 'mkldnn', 'channels_last', 'contiguous'):
            m = DiffusionPrint(inference_layout=layout)
            m.load_state_dict(modality.state_dict())
            variants[f'folded {layout}'] = (lambda m=m: m(x))
    for tile in args.tiles:
        variants[f'tiled {tile}'] = (lambda tile=tile: modality(x, tile_size=tile))
    variants['gemm'] = lambda: torch.mm(a, b)
    # The same GEMM through oneDNN (a 1x1 convolution: M=64*64 pixels, K=N=1024): on AMD
    # CPUs MKL's torch.mm may not use the widest vector units, oneDNN does.
    g_in = torch.randn(1, 1024, 64, 64).contiguous(memory_format=torch.channels_last)
    g_w = torch.randn(1024, 1024, 1, 1).contiguous(memory_format=torch.channels_last)
    variants['gemm onednn'] = lambda: torch.nn.functional.conv2d(g_in, g_w)
    gemm_flop = {'gemm': 2 * args.gemm_size ** 3, 'gemm onednn': 2 * 4096 * 1024 * 1024}
    # Round-robin: every variant once per round, best of the rounds. On a shared machine
    # this exposes each variant to the same load pattern.
    times = {name: [] for name in variants}
    cpu = {name: [] for name in variants}
    with torch.no_grad():
        ref = naive(x)
        for fn in variants.values():  # warm-up (oneDNN primitive creation, folding)
            fn()
        for _ in range(args.repeats):
            for name, fn in variants.items():
                c0, t0 = time.process_time(), time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
                cpu[name].append((time.process_time() - c0) / args.threads)
    out = modality(x)
    err = (out - ref).abs().max().item() / ref.abs().max().item()
    best = {name: min(ts) for name, ts in times.items()}
    t_naive, t_fast = best['naive'], best['optimised']
    gemms = {k: gemm_flop[k] / best[k] / 1e9 for k in gemm_flop}
    gemm = max(gemms.values())

    def rate(t):
        return pixels * flops_px / t / 1e9

    def spread(name):
        ts = times[name]
        return f'(worst {max(ts):.2f} s)'

    print(f'naive eager fp32 NCHW Sequential : {t_naive:8.3f} s  {rate(t_naive):7.1f} GFLOP/s '
          f'{spread("naive")}')
    print(f'optimised frozen DiffusionPrint  : {t_fast:8.3f} s  {rate(t_fast):7.1f} GFLOP/s '
          f'{spread("optimised")}  layout {modality.folded().layout}, max rel. diff {err:.1e}')
    for name in variants:
        if name not in ('naive', 'optimised', 'bf16') and name not in gemm_flop:
            print(f'  {name:31s}: {best[name]:8.3f} s  {rate(best[name]):7.1f} GFLOP/s '
                  f'{spread(name)}')
    print(f'fp32 GEMM torch.mm {args.gemm_size}^2        : {gemms["gemm"]:7.1f} GFLOP/s '
          f'{spread("gemm")}')
    print(f'fp32 GEMM oneDNN 4096x1024x1024 : {gemms["gemm onednn"]:7.1f} GFLOP/s '
          f'{spread("gemm onednn")}  (reference = the faster GEMM)')
    if bf16 is not None:
        out16 = bf16(x)
        err16 = (out16 - out).abs().max().item() / out.abs().max().item()
        l2_16 = ((out16 - out).norm() / out.norm()).item()
        t16 = best['bf16']
        print(f'bf16 frozen DiffusionPrint      : {t16:8.3f} s  {rate(t16):7.1f} GFLOP/s '
              f'{spread("bf16")}  layout {bf16.folded().layout}, vs fp32: max rel. err '
              f'{err16:.1e}, rel. L2 {l2_16:.1e}')
        print(f'bf16 speed-up: {t_fast / t16:.2f}x the fp32 fast path (target >= 1.8x), '
              f'{t_naive / t16:.2f}x naive (target >= 3.5x)')
    else:
        print('bf16 row skipped: no native bf16 here (GPU with bf16 or CPU with AVX512-BF16/AMX)')
    print(f'speed-up vs naive: {t_naive / t_fast:.2f}x (target >= 1.5x)')
    print(f'fraction of GEMM : {rate(t_fast) / gemm:.0%} (target >= 60%)')
    # CPU seconds per thread: less sensitive to other processes competing for the cores.
    c = {name: min(ts) for name, ts in cpu.items()}
    c_gemm = max(gemm_flop[k] / c[k] / 1e9 for k in gemm_flop)
    others = ', '.join(f'{name} {rate(c[name]):.1f}' for name in variants
                       if name not in gemm_flop)
    print(f'by CPU time/thread (GFLOP/s): {others}; GEMM {c_gemm:.1f} -> '
          f'{c["naive"] / c["optimised"]:.2f}x naive, {rate(c["optimised"]) / c_gemm:.0%} of GEMM')
    if bf16 is not None:
        print(f'bf16 by CPU time/thread: {c["optimised"] / c["bf16"]:.2f}x the fp32 fast path, '
              f'{c["naive"] / c["bf16"]:.2f}x naive')

    if args.big:
        cmd = [sys.executable, os.path.abspath(__file__), '--_child', str(args.big),
               str(args.big_tile), str(args.threads)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        stats = json.loads(res.stdout.strip().splitlines()[-1])
        untiled_gib = 3 * 64 * args.big ** 2 * 4 / 2 ** 30
        out_gib = 64 * args.big ** 2 * 4 / 2 ** 30
        print(f'tiled {args.big}^2 (tile {args.big_tile}): {stats["seconds"]:.0f} s, '
              f'{rate(stats["seconds"]) * args.big ** 2 / pixels:.1f} GFLOP/s, peak RSS '
              f'{stats["peak_rss_gib"]:.2f} GiB (the 64-ch output alone is {out_gib:.2f} GiB; '
              f'an untiled forward needs >= ~{untiled_gib:.1f} GiB of activations)')


if __name__ == '__main__':
    main()
