"""tools/make_inpaintings.py with a tiny randomly-initialised diffusers inpainting pipeline
built from config (no weights, no network)."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from dp_plugin.simulate.writers import single_thread
from _helpers import load_tool

diffusers = pytest.importorskip('diffusers')
transformers = pytest.importorskip('transformers')


def _tiny_pipeline(path: str) -> None:
    """Save a randomly initialised StableDiffusionInpaintPipeline (a few MB) to ``path``."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=16, in_channels=9,
                                out_channels=4, down_block_types=('DownBlock2D', 'CrossAttnDownBlock2D'),
                                up_block_types=('CrossAttnUpBlock2D', 'UpBlock2D'), cross_attention_dim=16,
                                attention_head_dim=4, norm_num_groups=4)
    vae = AutoencoderKL(block_out_channels=(8, 16), in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=('DownEncoderBlock2D',) * 2, up_block_types=('UpDecoderBlock2D',) * 2,
                        norm_num_groups=4)
    tok_dir = osp.join(path + '_tok')
    os.makedirs(tok_dir, exist_ok=True)
    vocab = {'<|startoftext|>': 0, '<|endoftext|>': 1, '!': 2, 'a</w>': 3}
    json.dump(vocab, open(osp.join(tok_dir, 'vocab.json'), 'w'))
    open(osp.join(tok_dir, 'merges.txt'), 'w').write('#version: 0.2\n')
    tokenizer = CLIPTokenizer(osp.join(tok_dir, 'vocab.json'), osp.join(tok_dir, 'merges.txt'),
                              model_max_length=8)
    text = CLIPTextModel(CLIPTextConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=16,
                                        num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=8,
                                        bos_token_id=0, eos_token_id=1, pad_token_id=1))
    pipe = StableDiffusionInpaintPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet,
                                          scheduler=DDIMScheduler(steps_offset=1), safety_checker=None, feature_extractor=None,
                                          requires_safety_checker=False)
    pipe.save_pretrained(path)


def _images(folder, n, seed):
    os.makedirs(folder)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(osp.join(folder, f'im{i}.png'))


@single_thread()
def test_make_inpaintings_writes_a_valid_resumable_manifest(tmp_path):
    model = str(tmp_path / 'tiny-inpaint')
    _tiny_pipeline(model)
    _images(str(tmp_path / 'real'), 2, 0)
    _images(str(tmp_path / 'gen_a'), 1, 1)
    (tmp_path / 'real' / 'broken.jpg').write_bytes(b'not an image')
    out = str(tmp_path / 'out')
    args = ['--out', out, '--real', str(tmp_path / 'real'), '--generator', f'ga={model}',
            '--generator', f'gb={model}', '--generated', f"ga={tmp_path / 'gen_a'}", '--size', '32',
            '--steps', '2', '--device', 'cpu', '--dtype', 'float32', '--no-progress']
    tool = load_tool('make_inpaintings')
    first = tool.main(args)
    assert first['written'] == 2 * 2 + 1
    assert len(first['failed']) == 2 and all('broken.jpg' in f for f in first['failed'])  # reported, went on
    recs = [json.loads(ln) for ln in open(osp.join(out, 'manifest.jsonl'))]
    assert len(recs) == 5
    for r in recs:
        assert set(r) == {'image_id', 'category', 'generator', 'source', 'inpainted', 'mask'}
        for k in ('source', 'inpainted', 'mask'):
            assert osp.isfile(osp.join(out, r[k]))
        img = np.asarray(Image.open(osp.join(out, r['inpainted'])))
        assert img.shape == (32, 32, 3)
        m = np.asarray(Image.open(osp.join(out, r['mask'])))
        assert m.shape == (32, 32) and m.any() and not m.all()
    real = [r for r in recs if r['category'] == 'real']
    assert sorted((r['image_id'], r['generator']) for r in real) == [  # r00000 is broken.jpg
        ('r00001', 'ga'), ('r00001', 'gb'), ('r00002', 'ga'), ('r00002', 'gb')]
    gen = [r for r in recs if r['category'] == 'generated']
    assert gen == [dict(image_id='g00000', category='generated', generator='ga', source='generated/ga/g00000.png',
                        inpainted='inpainted/ga/g00000.png', mask='masks/g00000.png')]
    # resumable: a second run writes nothing new and keeps the manifest as is
    second = tool.main(args)
    assert second['written'] == 0 and second['skipped_done'] == 5
    assert len(open(osp.join(out, 'manifest.jsonl')).read().splitlines()) == 5
    # a run killed mid-write leaves half a line: it is cut off (that record is redone)
    man = osp.join(out, 'manifest.jsonl')
    full = open(man).read()
    with open(man, 'w') as f:
        f.write(full[:len(full) - 20])
    assert tool.read_done(man) == {(r['image_id'], r['generator']) for r in recs[:4]}
    assert open(man).read() == ''.join(full.splitlines(keepends=True)[:4])


def test_make_inpaintings_never_resolves_hub_ids_without_permission(tmp_path):
    (tmp_path / 'real').mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / 'real' / 'a.png')
    with pytest.raises(SystemExit, match='not a local model folder'):
        load_tool('make_inpaintings').main(['--out', str(tmp_path / 'o'), '--real', str(tmp_path / 'real'), '--generator',
                      'sd2=stabilityai/stable-diffusion-2-inpainting', '--size', '32', '--device', 'cpu',
                      '--no-progress'])
