"""Throughput of one full DiffusionPrint pretraining step, with a per-phase breakdown.

    python benchmarks/bench_pretrain.py                       # tiny CPU config
    python benchmarks/bench_pretrain.py --preset paper --device cuda
    python benchmarks/bench_pretrain.py --preset issue13 --vs-eager   # fast path vs eager

``--vs-eager`` times the same step (same weights, same batch) two ways in one process,
rounds alternating: the eager reference (fp32, NCHW, plain OptimWrapper) and the fast
path (channels_last + MixedPrecisionOptimWrapper's autocast, bf16 where the device has
it; ``--compile`` adds torch.compile). It prints wall and CPU-time medians, min-max,
the ratios and the load average, then exits.

Phases (each synchronised): EMA update of the momentum encoder, online forward,
momentum forward (positives + pool patches), hard-negative mining + InfoNCE (+ head),
backward, optimizer step, enqueue. The full step (``model.train_step``, the code the
Runner calls) is timed separately and gives patches/s (anchors per second; every
anchor also costs one positive and one pool patch through the momentum encoder).
"""
import argparse
import copy
import os
import statistics
import time

import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper

from dp_plugin.pretrain.diffusion_print_pretrainer import DiffusionPrintPretrainer
from dp_plugin.pretrain.losses import hard_negative_info_nce
from dp_plugin.pretrain.mixed_precision_optim_wrapper import MixedPrecisionOptimWrapper

PRESETS = {
    'tiny': dict(backbone=dict(type='DnCNN', depth=6, width=16, out_channels=16), patch_size=32,
                 batch=64, queue_size=2048, topk=64),
    'paper': dict(backbone=dict(type='DnCNN', depth=17, width=64, out_channels=64), patch_size=64,
                  batch=512, queue_size=65536, topk=512),
    # issue 13's CPU measurement: the paper's network on a CPU-sized batch
    'issue13': dict(backbone=dict(type='DnCNN', depth=17, width=64, out_channels=64), patch_size=64,
                    batch=32, queue_size=8192, topk=512),
}


def fill_queue(model: DiffusionPrintPretrainer, dev: str) -> None:
    """A full queue of random unit keys, so mining works on a full bank."""
    with torch.no_grad():
        n = model.queue.size
        model.queue.enqueue(F.normalize(torch.randn(n, 128, device=dev), dim=1),
                            torch.randint(0, 2, (n, ), device=dev), torch.zeros(n, device=dev))


def _stats(xs: list) -> str:
    return f'{statistics.median(xs):8.3f} s  [{min(xs):.3f}-{max(xs):.3f}]'


def vs_eager(args: argparse.Namespace, cfg: dict, b: int) -> None:
    """Eager fp32 NCHW vs the fast path, same weights and batch, rounds alternating."""
    dev = args.device
    torch.manual_seed(0)
    eager = DiffusionPrintPretrainer(num_classes=4, cls_weight=1.0, **cfg).to(dev).train()
    fast = DiffusionPrintPretrainer(num_classes=4, cls_weight=1.0, channels_last=True,
                                    compile=args.compile, **cfg).to(dev).train()
    fill_queue(eager, dev)
    fast.load_state_dict(copy.deepcopy(eager.state_dict()))  # same weights and queue
    wrappers = dict(
        eager=OptimWrapper(torch.optim.Adam(eager.parameters(), lr=1e-3)),
        fast=MixedPrecisionOptimWrapper(optimizer=torch.optim.Adam(fast.parameters(), lr=1e-3),
                                        dtype=args.dtype))
    models = dict(eager=eager, fast=fast)
    data = make_batch(b, cfg['patch_size'], dev)
    sync = torch.cuda.synchronize if dev.startswith('cuda') else (lambda: None)
    wall = {k: [] for k in models}
    cpu = {k: [] for k in models}
    load0 = os.getloadavg()
    for r in range(args.warmup + args.steps):
        for name in (('eager', 'fast') if r % 2 == 0 else ('fast', 'eager')):
            sync()
            t, c = time.perf_counter(), time.process_time()
            models[name].train_step(data, wrappers[name])
            sync()
            if r >= args.warmup:
                wall[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - c)
    load1 = os.getloadavg()
    print(f'preset {args.preset}: DnCNN-{cfg["backbone"]["depth"]}/{cfg["backbone"]["width"]}, '
          f'batch {b} x {cfg["patch_size"]}^2, queue {cfg["queue_size"]}, k {cfg["topk"]}, '
          f'4-class head, {b} pool patches/step, device {dev}, threads {args.threads}')
    print(f'fast path: channels_last, autocast {wrappers["fast"].cast_dtype}, '
          f'compile {bool(args.compile)}; {args.steps} timed rounds after {args.warmup} warm-up, '
          'alternating')
    print(f'{"":<7}{"wall median [min-max]":>30}{"CPU median [min-max]":>30}')
    for name in models:
        print(f'{name:<7}{_stats(wall[name]):>30}{_stats(cpu[name]):>30}')
    rw = statistics.median(wall['eager']) / statistics.median(wall['fast'])
    rc = statistics.median(cpu['eager']) / statistics.median(cpu['fast'])
    print(f'ratio eager/fast: wall {rw:.2f}x, CPU time {rc:.2f}x '
          f'({b / statistics.median(wall["fast"]):.1f} vs '
          f'{b / statistics.median(wall["eager"]):.1f} anchors/s)')
    print(f'load average: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} before, '
          f'{load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} after')


def make_batch(b: int, p: int, device: str) -> dict:
    return dict(views=torch.randint(0, 256, (b, 4, 3, p, p), dtype=torch.uint8, device=device),
                num_pos=torch.full((b, ), 3, device=device),
                category=torch.randint(0, 2, (b, ), device=device),
                gen_label=torch.randint(0, 4, (b, ), device=device),
                neg=torch.randint(0, 256, (b, 3, p, p), dtype=torch.uint8, device=device),
                neg_category=torch.ones(b, dtype=torch.long, device=device),
                neg_gen_label=torch.randint(1, 4, (b, ), device=device),
                neg_valid=torch.ones(b, dtype=torch.long, device=device))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--preset', choices=sorted(PRESETS), default='tiny')
    parser.add_argument('--batch', type=int, help='override the preset batch size')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--vs-eager', action='store_true',
                        help='time the eager fp32 NCHW step and the fast path side by side')
    parser.add_argument('--dtype', default='auto',
                        help="fast path autocast dtype (MixedPrecisionOptimWrapper): 'auto', "
                             "'bfloat16', 'float16' or 'float32'")
    parser.add_argument('--compile', action='store_true', help='torch.compile the encoders')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    cfg = dict(PRESETS[args.preset])
    b = args.batch or cfg.pop('batch')
    cfg.pop('batch', None)
    dev = args.device
    if args.vs_eager:
        vs_eager(args, cfg, b)
        return
    model = DiffusionPrintPretrainer(num_classes=4, cls_weight=1.0, **cfg).to(dev).train()
    optim = torch.optim.Adam(model.parameters(), lr=1e-3)
    wrapper = OptimWrapper(optim)
    sync = torch.cuda.synchronize if dev.startswith('cuda') else (lambda: None)
    data = make_batch(b, cfg['patch_size'], dev)
    fill_queue(model, dev)

    def timed(fn):
        sync()
        t = time.perf_counter()
        out = fn()
        sync()
        return out, time.perf_counter() - t

    full = []
    for i in range(args.warmup + args.steps):
        _, dt = timed(lambda: model.train_step(data, wrapper))
        if i >= args.warmup:
            full.append(dt)
    phases = {k: 0.0 for k in ('ema', 'preprocess', 'online_fwd', 'momentum_fwd',
                               'mining_loss', 'backward', 'optim_step', 'enqueue')}
    for _ in range(args.steps):
        _, dt = timed(lambda: model.momentum_encoder.update_parameters(model.online))
        phases['ema'] += dt
        views, dt = timed(lambda: model.data_preprocessor(data, True))
        phases['preprocess'] += dt
        (anchor, positive), neg = views['inputs'], views['neg']
        proj, dt = timed(lambda: model.online(anchor))
        phases['online_fwd'] += dt

        def momentum():
            with torch.no_grad():
                k = F.normalize(model.momentum_encoder.module(positive), dim=1)
                kn = F.normalize(model.momentum_encoder.module(neg), dim=1)
            return k, kn
        (k, kn), dt = timed(momentum)
        phases['momentum_fwd'] += dt

        def mining():
            q = F.normalize(proj, dim=1)
            loss, _ = hard_negative_info_nce(q, k, model.queue.feats.clone(),
                                             model.queue.category.clone(), data['category'],
                                             model.topk, model.temperature)
            return loss.mean() + F.cross_entropy(model.cls_head(proj), data['gen_label'])
        loss, dt = timed(mining)
        phases['mining_loss'] += dt
        _, dt = timed(loss.backward)
        phases['backward'] += dt
        _, dt = timed(lambda: (optim.step(), optim.zero_grad()))
        phases['optim_step'] += dt
        _, dt = timed(lambda: (model.queue.enqueue(k, data['category'], data['gen_label']),
                               model.queue.enqueue(kn, data['neg_category'],
                                                   data['neg_gen_label'])))
        phases['enqueue'] += dt
    step = sorted(full)[len(full) // 2]
    total = sum(phases.values()) / args.steps
    print(f'preset {args.preset}: DnCNN depth {cfg["backbone"]["depth"]} width '
          f'{cfg["backbone"]["width"]} C {cfg["backbone"]["out_channels"]}, patch '
          f'{cfg["patch_size"]}, batch {b}, queue {cfg["queue_size"]}, top-k {cfg["topk"]}, '
          f'generator head, device {dev}, threads {args.threads}')
    print(f'full train_step: {step * 1e3:.1f} ms median of {args.steps} -> '
          f'{b / step:.1f} anchor patches/s ({3 * b / step:.1f} patches/s through encoders)')
    print(f'{"phase":<14}{"ms":>10}{"share":>8}')
    for name, t in phases.items():
        t /= args.steps
        print(f'{name:<14}{t * 1e3:>10.1f}{100 * t / total:>7.1f}%')
    print(f'{"sum":<14}{total * 1e3:>10.1f}')


if __name__ == '__main__':
    main()
