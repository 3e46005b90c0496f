"""Loss curves of the fast path (channels_last + bf16 autocast) vs the eager fp32 step.

    python benchmarks/pretrain_loss_curve.py --steps 200 --seeds 0 1 2 --out docs/pretraining_fastpath_loss.png

The tiny config's model (DnCNN-6/16, 32^2 patches, batch 64, queue 2048, k 64, 4-class
head, every pool patch enqueued, Adam 1e-3 wd 1e-4, clip 10) on synthetic patch pairs:
real images = smooth content + fine iid noise, generator g = smooth content + its own
periodic trace; the 4 views of an image are 4 crops of it, pool patches are crops of
generated images. Each seed sets weights, data and augmentations, the same for both
paths. Prints the final-50-step mean loss of every run and the seed spread, writes the
curves (JSON next to the figure) and a PNG figure.
"""
import argparse
import json
import os
import statistics

import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper

from dp_plugin.pretrain.diffusion_print_pretrainer import DiffusionPrintPretrainer
from dp_plugin.pretrain.mixed_precision_optim_wrapper import MixedPrecisionOptimWrapper

TINY = dict(backbone=dict(type='DnCNN', depth=6, width=16, out_channels=16), patch_size=32,
            queue_size=2048, topk=64, num_classes=4, cls_weight=1.0, neg_batch_size=None)


def images(n: int, gen: torch.Tensor, g: torch.Generator, side: int = 48) -> torch.Tensor:
    """uint8 ``(n, 3, side, side)``: generator 0 real (fine noise), 1-3 periodic traces."""
    low = torch.rand(n, 3, side // 8, side // 8, generator=g) * 160 + 48
    x = F.interpolate(low, size=(side, side), mode='bilinear', align_corners=False)
    noise = torch.randn(n, 3, side, side, generator=g) * 6
    yy, xx = torch.meshgrid(torch.arange(side), torch.arange(side), indexing='ij')
    period = (gen + 1).float()[:, None, None, None]
    trace = 6 * torch.cos(2 * torch.pi * (xx + yy)[None, None] / (2 * period))
    x = x + torch.where((gen == 0)[:, None, None, None], noise, trace + 0.3 * noise)
    return x.clamp(0, 255).to(torch.uint8)


def batch(b: int, p: int, g: torch.Generator) -> dict:
    gen = torch.randint(0, 4, (b, ), generator=g)
    img = images(b, gen, g)
    off = torch.randint(0, img.shape[-1] - p + 1, (b, 4, 2), generator=g)
    views = torch.stack([torch.stack([img[i, :, y:y + p, x:x + p] for y, x in off[i].tolist()])
                         for i in range(b)])
    ngen = torch.randint(1, 4, (b, ), generator=g)
    neg = images(b, ngen, g)[:, :, :p, :p]
    return dict(views=views, num_pos=torch.full((b, ), 3), category=(gen > 0).long(),
                gen_label=gen, neg=neg, neg_category=torch.ones(b, dtype=torch.long),
                neg_gen_label=ngen, neg_valid=torch.ones(b, dtype=torch.long))


def run(seed: int, fast: bool, steps: int) -> list:
    torch.manual_seed(seed)
    model = DiffusionPrintPretrainer(channels_last=fast, **TINY).train()
    optim = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    kw = dict(optimizer=optim, clip_grad=dict(max_norm=10.0))
    wrapper = MixedPrecisionOptimWrapper(dtype='bfloat16', **kw) if fast else OptimWrapper(**kw)
    g = torch.Generator().manual_seed(1000 + seed)
    pool = [batch(64, 32, g) for _ in range(32)]  # QueueFillHook's prefill: a full queue
    model.fill_queue((b['neg'], b['neg_category'], b['neg_gen_label']) for b in pool)
    torch.manual_seed(seed)
    losses = []
    for _ in range(steps):
        out = model.train_step(batch(64, 32, g), wrapper)
        losses.append(float(out['loss'].detach()))
    return losses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--steps', type=int, default=200)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--out', default='docs/pretraining_fastpath_loss.png')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    curves = {f'{name} seed {s}': run(s, name == 'fast', args.steps)
              for s in args.seeds for name in ('eager', 'fast')}
    tail = {k: statistics.mean(v[-50:]) for k, v in curves.items()}
    for k, v in tail.items():
        print(f'{k}: mean loss of the last 50 steps {v:.4f}')
    for name in ('eager', 'fast'):
        vals = [v for k, v in tail.items() if k.startswith(name)]
        print(f'{name}: {statistics.mean(vals):.4f} (seed spread {min(vals):.4f}-{max(vals):.4f})')
    base = os.path.splitext(args.out)[0]
    with open(base + '.json.tmp', 'w') as f:
        json.dump(curves, f)
    os.replace(base + '.json.tmp', base + '.json')
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=80)
    for k, v in curves.items():
        ax.plot(v, color='tab:blue' if k.startswith('eager') else 'tab:orange',
                lw=0.8, alpha=0.8, label=k)
    ax.set_xlabel('step')
    ax.set_ylabel('loss (InfoNCE + head)')
    ax.set_title('tiny config: eager fp32 NCHW (blue) vs bf16 + channels_last (orange)', fontsize=8)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(base + '.tmp.png')
    os.replace(base + '.tmp.png', args.out)


if __name__ == '__main__':
    main()
