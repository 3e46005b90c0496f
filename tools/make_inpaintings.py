#!/usr/bin/env python
"""Build the paper's pretraining source set from real images with real diffusers inpainting
pipelines (GPU users; optional extra: ``pip install -e .[generate]``).

Each real image is inpainted once per generator; each generator's own generated images are
inpainted by that generator's inpainting pipeline. The output has the same layout and
``manifest.jsonl`` schema as the simulator (docs/contracts.md), so the patch-pair builder
consumes both the same way. Pipelines return the decoded *whole* image, i.e. fully
regenerated (FR) outputs. Resumable: re-running skips the records already in the manifest.

    python tools/make_inpaintings.py --out data/dragon/pretrain --real data/coco/val2017 \\
        --generator sd2=/models/stable-diffusion-2-inpainting \\
        --generator sdxl=/models/stable-diffusion-xl-1.0-inpainting-0.1 \\
        --generated sd2=data/dragon/sd2 --generated sdxl=data/dragon/sdxl --size 512 --device cuda

Models are local folders (``save_pretrained`` / snapshot layout); hub ids are only resolved
with ``--allow-download``. Masks are drawn per image (half object-like blobs, half TGIF2
rectangles; deterministic in ``--seed``) unless ``--masks DIR`` gives ``{stem}.png`` masks.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from dp_plugin.simulate.writers import (item_rng, item_seed, mask_png, pretrain_mask, write_png,  # noqa: E402
                                        write_text)

IMAGE_EXTS = ('.png', '.jpg', '.jpeg', '.webp', '.bmp', '.tif', '.tiff')


def _pairs(values, flag):
    out = {}
    for v in values or []:
        if '=' not in v:
            raise SystemExit(f'{flag} expects NAME=VALUE, got {v!r}')
        k, val = v.split('=', 1)
        if not k or k in out:
            raise SystemExit(f'{flag}: empty or repeated name {k!r}')
        out[k] = val
    return out


def list_images(folder: str) -> list:
    if not osp.isdir(folder):
        raise SystemExit(f'{folder}: not a folder of images')
    return sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTS))


def load_square(path: str, size: int) -> np.ndarray:
    """RGB uint8 ``(size,size,3)``: centre crop to a square, then resize (Lanczos)."""
    from PIL import Image
    with Image.open(path) as im:
        im = im.convert('RGB')
        w, h = im.size
        s = min(w, h)
        im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        if s != size:
            im = im.resize((size, size), Image.LANCZOS)
        return np.asarray(im)


def load_mask(path: str, size: int) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as im:
        m = im.convert('L').resize((size, size), Image.NEAREST)
    return np.asarray(m) > 127


def load_pipeline(spec: str, pipeline_class: str, device: str, dtype: str, allow_download: bool):
    """A diffusers inpainting pipeline from a local folder (or a hub id with ``allow_download``)."""
    try:
        import diffusers
        import torch
    except ImportError as e:
        raise SystemExit(f'diffusers is required for real pipelines: pip install -e .[generate] ({e})')
    if not allow_download and not osp.isdir(spec):
        raise SystemExit(f'{spec}: not a local model folder (pass --allow-download to resolve hub ids)')
    cls = getattr(diffusers, pipeline_class or 'AutoPipelineForInpainting', None)
    if cls is None:
        raise SystemExit(f'diffusers has no pipeline class {pipeline_class!r}')
    kw = dict(local_files_only=not allow_download)
    if dtype != 'float32':
        kw['torch_dtype'] = getattr(torch, dtype)
    pipe = cls.from_pretrained(spec, **kw)
    if hasattr(pipe, 'safety_checker') and getattr(pipe, 'safety_checker', None) is not None:
        pipe.safety_checker = None  # it blanks images, which would corrupt a forensic dataset
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def inpaint(pipe, img: np.ndarray, mask: np.ndarray, prompt: str, steps: int, guidance: float,
            seed: int, device: str) -> np.ndarray:
    """One fully-regenerative inpainting: the pipeline's whole decoded output, uint8."""
    import torch
    from PIL import Image
    size = img.shape[0]
    gen = torch.Generator(device='cpu').manual_seed(seed)
    out = pipe(prompt=prompt, image=Image.fromarray(img), mask_image=Image.fromarray(mask_png(mask)),
               height=size, width=size, num_inference_steps=steps, guidance_scale=guidance, generator=gen,
               output_type='np').images[0]
    out = np.clip(np.round(np.asarray(out, np.float64) * 255), 0, 255).astype(np.uint8)
    if out.shape != img.shape:
        raise RuntimeError(f'pipeline returned {out.shape}, expected {img.shape}')
    return out


def read_done(manifest: str) -> set:
    done = set()
    if osp.isfile(manifest):
        with open(manifest) as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    done.add((r['image_id'], r['generator']))
    return done


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True, help='output folder (pretraining layout)')
    p.add_argument('--real', required=True, help='folder of real images')
    p.add_argument('--generator', action='append', required=True, metavar='NAME=MODEL',
                   help='inpainting model per generator (local folder; repeat)')
    p.add_argument('--generated', action='append', metavar='NAME=DIR',
                   help="folder of images generated by NAME's text-to-image model (repeat)")
    p.add_argument('--pipeline-class', action='append', metavar='NAME=CLASS',
                   help='diffusers class for NAME (default AutoPipelineForInpainting; e.g. FluxFillPipeline)')
    p.add_argument('--masks', help='folder of {stem}.png masks (white = inpaint) instead of drawn masks')
    p.add_argument('--size', type=int, default=512, help='square working size (multiple of 8/16)')
    p.add_argument('--prompt', default='', help='prompt for every inpainting (TGIF random masks use "")')
    p.add_argument('--steps', type=int, default=30)
    p.add_argument('--guidance', type=float, default=7.5)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--max-real', type=int, default=0, help='use only the first N real images (0: all)')
    p.add_argument('--max-generated', type=int, default=0, help='per generator (0: all)')
    p.add_argument('--device', default='cuda')
    p.add_argument('--dtype', default='float16', choices=('float16', 'bfloat16', 'float32'))
    p.add_argument('--allow-download', action='store_true', help='let diffusers resolve hub ids (network)')
    p.add_argument('--no-progress', action='store_true')
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    from tqdm import tqdm
    gens = _pairs(args.generator, '--generator')
    generated = _pairs(args.generated, '--generated')
    classes = _pairs(args.pipeline_class, '--pipeline-class')
    for k in list(generated) + list(classes):
        if k not in gens:
            raise SystemExit(f'{k!r} is not one of the --generator names {sorted(gens)}')
    reals = list_images(args.real)[:args.max_real or None]
    gen_files = {g: list_images(d)[:args.max_generated or None] for g, d in generated.items()}
    manifest = osp.join(args.out, 'manifest.jsonl')
    os.makedirs(args.out, exist_ok=True)
    done = read_done(manifest)
    # ids: real images r00000.. in sorted order; generated g00000.. over generators in --generator order
    jobs = {g: [] for g in gens}
    for i, f in enumerate(reals):
        for g in gens:
            jobs[g].append(('real', f'r{i:05d}', osp.join(args.real, f)))
    k = 0
    for g in gens:
        for f in gen_files.get(g, []):
            jobs[g].append(('generated', f'g{k:05d}', osp.join(generated[g], f)))
            k += 1
    todo = sum(1 for g in gens for _, iid, _ in jobs[g] if (iid, g) not in done)
    t0, written, failed = time.time(), 0, []
    bar = tqdm(total=todo, desc='inpaint', unit='img', disable=args.no_progress, dynamic_ncols=True)
    with open(manifest, 'a') as man:
        for g, spec in gens.items():
            pending = [j for j in jobs[g] if (j[1], g) not in done]
            if not pending:
                continue
            pipe = load_pipeline(spec, classes.get(g), args.device, args.dtype, args.allow_download)
            for cat, iid, path in pending:
                try:
                    img = load_square(path, args.size)
                    stem = osp.splitext(osp.basename(path))[0]
                    if args.masks:
                        mpath = osp.join(args.masks, f'{stem}.png')
                        if not osp.isfile(mpath):
                            raise FileNotFoundError(f'mask {mpath} missing')
                        mask = load_mask(mpath, args.size)
                    else:
                        mask = pretrain_mask(item_rng(args.seed, 'mask', iid), args.size)
                    if not mask.any() or mask.all():
                        raise ValueError('mask is empty or covers the whole image')
                    src_rel = f'real/{iid}.png' if cat == 'real' else f'generated/{g}/{iid}.png'
                    if not osp.isfile(osp.join(args.out, src_rel)):
                        write_png(osp.join(args.out, src_rel), img)
                    mask_rel = f'masks/{iid}.png'
                    if not osp.isfile(osp.join(args.out, mask_rel)):
                        write_png(osp.join(args.out, mask_rel), mask_png(mask))
                    out = inpaint(pipe, img, mask, args.prompt, args.steps, args.guidance,
                                  item_seed(args.seed, 'inpaint', iid, g), args.device)
                    inp_rel = f'inpainted/{g}/{iid}.png'
                    write_png(osp.join(args.out, inp_rel), out)
                    man.write(json.dumps(dict(image_id=iid, category=cat, generator=g, source=src_rel,
                                              inpainted=inp_rel, mask=mask_rel)) + '\n')
                    man.flush()
                    written += 1
                except Exception as e:  # report the bad item and continue with the others
                    failed.append(f'{path} ({g}): {e}')
                    tqdm.write(f'FAILED {path} with {g}: {e}', file=sys.stderr)
                bar.update()
            del pipe
    bar.close()
    meta = dict(simulated=False, kind='pretrain', tool='tools/make_inpaintings.py', size=args.size,
                seed=args.seed, generators=gens, generated=generated, pipeline_classes=classes,
                prompt=args.prompt, steps=args.steps, guidance=args.guidance, real=args.real,
                masks=args.masks or 'drawn (blobs/rectangles)', records=len(read_done(manifest)))
    write_text(osp.join(args.out, 'meta.json'), json.dumps(meta, indent=1))
    summary = dict(written=written, skipped_done=len(done), failed=failed, seconds=round(time.time() - t0, 1))
    print(f"{args.out}: {written} new inpaintings, {len(done)} already done, {len(failed)} failed, "
          f"{meta['records']} records in manifest.jsonl ({summary['seconds']} s)")
    return summary


if __name__ == '__main__':
    main()
