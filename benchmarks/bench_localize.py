#!/usr/bin/env python
"""Peak memory and throughput of ``dp-localize`` on one large image (default 4096x4096).

Each measurement runs the real command line in a fresh process (read, sliding-window
inference, mask / overlay / npz writes) under ``/usr/bin/time -v`` and reports its
"Maximum resident set size" (``wait4``'s peak RSS where ``/usr/bin/time`` is missing).
Models: ``tiny`` (MiT, embed_dims 8, the tests' model), ``b0`` (SegFormer-B0-sized MiT +
SegformerHead, the size of the Lite Baseline's segmentor), ``trufor`` / ``mmfusion``
(the tiny TruFor phase-3 and MMFusion detection-phase configs: confidence and detection
heads, windowed by the segmentors themselves), or any trained model via
``--config/--checkpoint``. Random weights suffice: speed and memory do not depend on the
weights.

Example::

    python benchmarks/bench_localize.py --size 4096 --models tiny b0 trufor mmfusion --threads 2
"""
import argparse
import json
import os
import re
import os.path as osp
import subprocess
import sys
import tempfile
import time

import numpy as np

MODELS = {
    'tiny': dict(embed_dims=8, num_layers=[1, 1, 1, 1], channels=16),
    'b0': dict(embed_dims=32, num_layers=[2, 2, 2, 2], channels=256),
}
REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.append(osp.join(REPO, 'tests'))  # _helpers: the tests' tiny model, shared
#: Project configs benchmarked with random weights (modality checkpoints dropped).
CONFIG_MODELS = {
    'trufor': ('configs/trufor/trufor_mit-b0-tiny_phase3_diffusionprint-simple_sim-64x64.py',
               "model = dict(modality=dict(checkpoint=None))"),
    'mmfusion': ('configs/mmfusion/mmfusion-early_tiny_dp_sim-64x64_phase2.py', ''),
}

def make_model(name: str, folder: str):
    """Write the config and a random-weight checkpoint of a named benchmark model."""
    from _helpers import save_random_model, tiny_segformer_config
    config = osp.join(folder, f'{name}.py')
    with open(config, 'w') as fh:
        if name in CONFIG_MODELS:
            base, override = CONFIG_MODELS[name]
            fh.write(f"_base_ = [{osp.join(REPO, base)!r}]\n{override}\n")
        else:
            fh.write(tiny_segformer_config(**MODELS[name]))
    checkpoint = osp.join(folder, f'{name}.pth')
    model = save_random_model(config, checkpoint)
    params = sum(p.numel() for p in model.parameters())
    return config, checkpoint, params


def make_image(path: str, size: int) -> None:
    """A photo-like test image (smooth gradients plus sensor-like noise), JPEG q95."""
    from PIL import Image
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, size, dtype=np.float32)
    img = np.empty((size, size, 3), np.uint8)
    for row in range(0, size, 512):
        rows = slice(row, min(row + 512, size))
        base = (ramp[None, :, None] * 0.6 + ramp[rows, None, None] * 0.4
                + np.array([0, 20, 40], np.float32))
        noise = rng.normal(0, 6, (base.shape[0], size, 3)).astype(np.float32)
        img[rows] = np.clip(base + noise, 0, 255).astype(np.uint8)
    Image.fromarray(img).save(path, quality=95)


def measure(image: str, config: str, checkpoint: str, out: str, args) -> dict:
    """Run dp-localize once in a child process; peak RSS and timings."""
    timer = ['/usr/bin/time', '-v'] if osp.exists('/usr/bin/time') else []
    cmd = timer + [sys.executable, '-m', 'dp_plugin.apis.localize_cli', image, '-o', out,
           '--config', config, '--checkpoint', checkpoint, '--device', 'cpu',
           '--threads', str(args.threads), '--tile', str(args.tile),
           '--tile-overlap', str(args.tile_overlap), '--overwrite']
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode(errors='replace')
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f'dp-localize failed:\n{stderr[-2000:]}')
    with open(osp.join(out, 'summary.json')) as fh:
        row = json.load(fh)['images'][0]
    if row['status'] != 'ok':
        raise RuntimeError(f'dp-localize: {row["error"]}')
    peak_kb = usage.ru_maxrss
    found = re.search(r'Maximum resident set size \(kbytes\): (\d+)', stderr)
    if found:
        peak_kb = int(found.group(1))
    return dict(peak_rss_gb=peak_kb / 1024 ** 2, process_s=wall,
                cpu_s=usage.ru_utime + usage.ru_stime,
                image_s=row['seconds'], infer_s=row['infer_seconds'])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, default=4096, help='image side (default 4096)')
    parser.add_argument('--models', nargs='+', default=['tiny', 'b0'],
                        choices=list(MODELS) + list(CONFIG_MODELS))
    parser.add_argument('--config', help='benchmark this model config instead')
    parser.add_argument('--checkpoint', help='weights of --config')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--tile', type=int, default=1024)
    parser.add_argument('--tile-overlap', type=int, default=128)
    parser.add_argument('--rss-target-gb', type=float, default=3.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix='bench_localize_') as tmp:
        image = osp.join(tmp, f'photo_{args.size}.jpg')
        make_image(image, args.size)
        if args.config:
            runs = [(osp.basename(args.config), args.config, args.checkpoint, None)]
        else:
            runs = [(name, *make_model(name, tmp)) for name in args.models]
        mpix = args.size ** 2 / 1e6
        print(f'load average {os.getloadavg()[0]:.1f}; image {args.size}x{args.size} '
              f'({mpix:.1f} MPix), tile {args.tile}, overlap '
              f'{args.tile_overlap}, {args.threads} threads, cpu; infer/per image = wall '
              f'seconds of inference / of the whole image (read, infer, writes)', flush=True)
        print(f'{"model":<10} {"params":>10} {"peak RSS":>9} {"infer":>8} {"per image":>10} '
              f'{"MPix/s":>7} {"process CPU":>12}  RSS <= {args.rss_target_gb:g} GB')
        failed = False
        for name, config, checkpoint, params in runs:
            result = measure(image, config, checkpoint, osp.join(tmp, f'out_{name}'), args)
            ok = result['peak_rss_gb'] <= args.rss_target_gb
            failed |= not ok
            print(f'{name:<10} {params or 0:>10,} {result["peak_rss_gb"]:>7.2f}GB '
                  f'{result["infer_s"]:>7.1f}s {result["image_s"]:>9.1f}s '
                  f'{mpix / result["infer_s"]:>7.3f} {result["cpu_s"]:>11.1f}s  '
                  f'{"yes" if ok else "NO"}  (load {os.getloadavg()[0]:.1f})', flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
