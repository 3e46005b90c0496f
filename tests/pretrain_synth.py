"""A tiny synthetic pretraining source set in the simulator's manifest schema (tests only).

Real images carry fine "sensor" noise; a generator is a latent decoder (4x upsampling
by its own method + its own smoothing). Reconstructing a real image keeps its content
but loses the noise; generated content comes from smoother latents with a
generator-specific latent fingerprint.
"""
import json
import os

import numpy as np
import pytest
from PIL import Image

from dp_plugin.simulate.writers import single_thread



@pytest.fixture(autouse=True)
def one_thread():
    """Torch on one thread (import into a test module to apply it there): the tiny convs
    of these tests run 5-200x slower with 2 threads on the shared, busy 2-core machine."""
    with single_thread():
        yield


def loss_of(model, batch: dict) -> dict:
    """A pretrainer's ``mode='loss'`` on a raw dataset batch, through its data
    preprocessor (in training mode, as ``train_step``)."""
    return model(**model.data_preprocessor(batch, True), mode='loss')


UPSAMPLE = {'simnn': 'nearest', 'simbl': 'bilinear', 'simtc': 'tconv', 'simps': 'shuffle'}


def _blur(x, k=3):
    pad = np.pad(x, ((k, k), (k, k), (0, 0)), mode='reflect')
    out = np.zeros_like(x)
    for dy in range(-k, k + 1):
        for dx in range(-k, k + 1):
            out += pad[k + dy:k + dy + x.shape[0], k + dx:k + dx + x.shape[1]]
    return out / (2 * k + 1) ** 2


def _up(z, how, rng_fixed):
    if how == 'nearest':
        return z.repeat(4, 0).repeat(4, 1)
    if how == 'tconv':
        up = z.repeat(4, 0).repeat(4, 1)
        return up * (1 + 0.08 * np.tile(rng_fixed.standard_normal((4, 4, 1)), (z.shape[0], z.shape[1], 1)))
    if how == 'shuffle':
        up = z.repeat(4, 0).repeat(4, 1)
        return up + 6 * np.tile(rng_fixed.standard_normal((4, 4, 3)), (z.shape[0], z.shape[1], 1))
    h, w = z.shape[:2]
    ys = (np.arange(4 * h) + 0.5) / 4 - 0.5
    xs = (np.arange(4 * w) + 0.5) / 4 - 0.5
    y0 = np.clip(np.floor(ys).astype(int), 0, h - 1)
    x0 = np.clip(np.floor(xs).astype(int), 0, w - 1)
    y1 = np.clip(y0 + 1, 0, h - 1)
    x1 = np.clip(x0 + 1, 0, w - 1)
    wy = np.clip(ys - y0, 0, 1)[:, None, None]
    wx = np.clip(xs - x0, 0, 1)[None, :, None]
    a = z[y0][:, x0] * (1 - wx) + z[y0][:, x1] * wx
    b = z[y1][:, x0] * (1 - wx) + z[y1][:, x1] * wx
    return a * (1 - wy) + b * wy


def decode(z, gen):
    rng_fixed = np.random.default_rng(sum(map(ord, gen)))
    return _blur(_up(z, UPSAMPLE[gen], rng_fixed), 1)


def encode(x):
    h, w = x.shape[0] // 4, x.shape[1] // 4
    return x[:4 * h, :4 * w].reshape(h, 4, w, 4, 3).mean(axis=(1, 3))


def real_image(rng, size):
    base = _blur(rng.standard_normal((size, size, 3)) * 60, 4) * 6 + 128
    return base + rng.standard_normal((size, size, 3)) * 8


def gen_latent(rng, size, gen):
    z = _blur(rng.standard_normal((size // 4, size // 4, 3)) * 60, 1) * 3 + 128
    fp = np.random.default_rng(sum(map(ord, gen)) + 7).standard_normal((2, 2, 3)) * 5
    return z + np.tile(fp, (size // 8, size // 8, 1))


def _save(path, arr):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.clip(arr, 0, 255).round().astype(np.uint8)).save(path)


def make_source_set(root, n_real=4, n_gen=4, size=128, generators=('simnn', 'simbl', 'simtc'),
                    seed=0):
    """Write images, masks and ``manifest.jsonl``; return the manifest path."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n_real):
        iid = f'r{i:05d}'
        x = real_image(rng, size)
        m = np.zeros((size, size), bool)
        h = int(rng.integers(size // 3, size // 2))
        t, l = rng.integers(0, size - h, 2)
        m[t:t + h, l:l + h] = True
        _save(f'{root}/real/{iid}.png', x)
        _save(f'{root}/masks/{iid}.png', m.astype(np.uint8) * 255)
        for g in generators:
            inp = decode(encode(x), g)
            inp[m] = decode(gen_latent(rng, size, g), g)[m]
            _save(f'{root}/inpainted/{g}/{iid}.png', inp)
            lines.append(dict(image_id=iid, category='real', generator=g, source=f'real/{iid}.png',
                              inpainted=f'inpainted/{g}/{iid}.png', mask=f'masks/{iid}.png'))
    for g in generators:
        for i in range(n_gen):
            iid = f'g{i:05d}'
            x = decode(gen_latent(rng, size, g), g)
            m = np.zeros((size, size), bool)
            h = int(rng.integers(size // 2, size * 3 // 4))
            t, l = rng.integers(0, size - h, 2)
            m[t:t + h, l:l + h] = True
            inp = decode(encode(x), g)
            inp[m] = decode(gen_latent(rng, size, g), g)[m]
            _save(f'{root}/generated/{g}/{iid}.png', x)
            _save(f'{root}/masks/{g}_{iid}.png', m.astype(np.uint8) * 255)
            _save(f'{root}/inpainted/{g}/{iid}.png', inp)
            lines.append(dict(image_id=iid, category='generated', generator=g,
                              source=f'generated/{g}/{iid}.png',
                              inpainted=f'inpainted/{g}/{iid}.png', mask=f'masks/{g}_{iid}.png'))
    path = os.path.join(root, 'manifest.jsonl')
    with open(path, 'w') as f:
        f.write(''.join(json.dumps(r) + '\n' for r in lines))
    return path


def make_patch_set(root, patch_size=16, **kw):
    """Synthetic source set + built patch set; return the patch set folder."""
    from dp_plugin.pretrain.patch_builder import BuildOptions, build_patches
    manifest = make_source_set(os.path.join(root, 'src'), **kw)
    out = os.path.join(root, 'patches')
    build_patches(manifest, out, BuildOptions(patch_size=patch_size), progress=False)
    return out


def tiny_runner_cfg(data_root, work_dir, max_epochs=2, batch_size=8, **model):
    """The tiny CPU config shrunk further for unit tests."""
    from mmengine.config import Config
    here = os.path.dirname(os.path.abspath(__file__))
    cfg = Config.fromfile(os.path.join(here, '..', 'configs', 'pretrain',
                                       'diffusionprint_tiny_cpu.py'))
    cfg.merge_from_dict({
        'work_dir': work_dir,
        'model.backbone': dict(depth=3, width=8, out_channels=8),
        'model.patch_size': 16, 'model.queue_size': 64, 'model.topk': 8,
        'train_dataloader.batch_size': batch_size,
        'train_dataloader.dataset.data_root': data_root,
        'train_cfg.max_epochs': max_epochs,
        'default_hooks.logger.interval': 1,
    })
    for k, v in model.items():
        cfg.model[k] = v
    return cfg
