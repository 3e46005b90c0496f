#!/usr/bin/env bash
# One-shot GPU check of the speed work (issue 13), < 4 min on an H200:
#   1. pretraining, paper preset (DnCNN-17/64, batch 512 x 64^2, queue 65 536, k 512, 128 pool
#      patches/step, 4-class head): eager fp32 NCHW vs the fast path (bf16 autocast +
#      channels_last, without and with torch.compile of the encoders): ms/step, anchors/s,
#      peak GPU memory, ratio to eager;
#   2. the frozen DiffusionPrint modality on a 512^2 image, fp32 vs bf16 (the modality's
#      precision='bf16': bf16 weights and activations, fp32 in and out): ms, max relative
#      error of the 64-channel map, ratio.
# Usage: bash benchmarks/gpu_check.sh [--dry-run] [--steps N] [--warmup N]
#   --dry-run: on CPU at tiny sizes (compile through the 'eager' backend), a few seconds; it
#   exercises every code path so argument and import errors show without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
DRY=0 STEPS=5 WARMUP=2
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --steps) STEPS=${2:?--steps needs a value}; shift ;;
    --warmup) WARMUP=${2:?--warmup needs a value}; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument '$1' (use --dry-run, --steps N, --warmup N)" >&2
       exit 2 ;;
  esac
  shift
done
[ "$DRY" = 1 ] && { STEPS=1; WARMUP=1; }
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
DRY=$DRY STEPS=$STEPS WARMUP=$WARMUP exec "$PYTHON" - <<'PY'
import gc
import os
import sys
import time

import torch
from mmengine.optim import OptimWrapper

from dp_plugin.modalities import DiffusionPrint
from dp_plugin.pretrain.diffusion_print_pretrainer import DiffusionPrintPretrainer
from dp_plugin.pretrain.mixed_precision_optim_wrapper import MixedPrecisionOptimWrapper
sys.path.insert(0, 'benchmarks')
from bench_pretrain import fill_queue, make_batch  # noqa: E402

dry, steps, warmup = os.environ['DRY'] == '1', int(os.environ['STEPS']), int(os.environ['WARMUP'])
if dry:
    dev = 'cpu'
    cfg = dict(backbone=dict(type='DnCNN', depth=3, width=8, out_channels=8), patch_size=16,
               queue_size=256,
               topk=16, neg_batch_size=4)
    batch, side, modality_kw = 8, 64, dict(depth=3, width=8, out_channels=8)
    compile_cfg = dict(backend='eager')
else:
    if not torch.cuda.is_available():
        sys.exit('gpu_check.sh: no CUDA device (use --dry-run to check the script on CPU)')
    dev = 'cuda'
    cfg = dict(backbone=dict(type='DnCNN', depth=17, width=64, out_channels=64), patch_size=64,
               queue_size=65536, topk=512, neg_batch_size=128)
    batch, side, modality_kw = 512, 512, {}
    compile_cfg = True
    torch.backends.cudnn.benchmark = True
name = torch.cuda.get_device_name() if dev == 'cuda' else 'cpu (dry run)'
print(f'device {name}, torch {torch.__version__}, steps {steps} after {warmup} warm-up')


def sync():
    if dev == 'cuda':
        torch.cuda.synchronize()


def peak_reset():
    gc.collect()
    if dev == 'cuda':
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_gib():
    return torch.cuda.max_memory_allocated() / 2 ** 30 if dev == 'cuda' else float('nan')


def pretrain(channels_last, dtype, compile_):
    torch.manual_seed(0)
    model = DiffusionPrintPretrainer(num_classes=4, cls_weight=1.0, channels_last=channels_last,
                                     compile=compile_cfg if compile_ else False,
                                     **cfg).to(dev).train()
    fill_queue(model, dev)
    optim = torch.optim.Adam(model.parameters(), lr=1e-3)
    wrapper = (OptimWrapper(optim) if dtype is None
               else MixedPrecisionOptimWrapper(optimizer=optim, dtype=dtype))
    data = make_batch(batch, cfg['patch_size'], dev)
    peak_reset()
    t0 = time.perf_counter()
    for _ in range(warmup):
        model.train_step(data, wrapper)
    sync()
    first = time.perf_counter() - t0
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        model.train_step(data, wrapper)
        sync()
        times.append(time.perf_counter() - t)
    step = sorted(times)[len(times) // 2]
    out = dict(step=step, peak=peak_gib(), first=first)
    del model, wrapper, optim, data
    return out


print(f'pretraining: DnCNN-{cfg["backbone"]["depth"]}/{cfg["backbone"]["width"]}, batch '
      f'{batch} x {cfg["patch_size"]}^2, queue {cfg["queue_size"]}, k {cfg["topk"]}, '
      f'{cfg["neg_batch_size"]} pool patches/step, 4-class head')
rows = [('eager fp32', False, None, False), ('bf16 + channels_last', True, 'bfloat16', False),
        ('bf16 + channels_last + compile', True, 'bfloat16', True)]
ref = None
for label, cl, dtype, comp in rows:
    r = pretrain(cl, dtype, comp)
    ref = ref or r['step']
    print(f'{label}: {r["step"] * 1e3:.1f} ms/step median, {batch / r["step"]:.0f} anchors/s, '
          f'peak memory {r["peak"]:.2f} GiB, warm-up {r["first"]:.1f} s, '
          f'ratio {ref / r["step"]:.2f}x vs eager fp32')

torch.manual_seed(0)
m = DiffusionPrint(inference_layout='channels_last', **modality_kw).to(dev).eval()
x = torch.rand(1, 3, side, side, device=dev)
res = {}
# the same modality at both precisions (on a device without native bf16, precision='bf16'
# warns and runs fp32)
for label in ('fp32', 'bf16'):
    m.precision = label
    peak_reset()
    with torch.no_grad():
        for _ in range(warmup):
            m(x)
        sync()
        times = []
        for _ in range(steps):
            t = time.perf_counter()
            out = m(x)
            sync()
            times.append(time.perf_counter() - t)
    res[label] = (sorted(times)[len(times) // 2], out.float(), peak_gib())
ref_map = res['fp32'][1]
for label, (t, out, peak) in res.items():
    err = ((out - ref_map).abs().max() / ref_map.abs().max()).item()
    print(f'modality {label}: {side}^2 frozen forward {t * 1e3:.1f} ms, peak memory '
          f'{peak:.2f} GiB, max relative error {err:.2e} (of the fp32 map\'s max), ratio '
          f'{res["fp32"][0] / t:.2f}x vs fp32 (precision={label!r})')
PY
