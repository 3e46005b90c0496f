"""Export round trip: trained encoder -> export -> DiffusionPrint gives the same maps."""
import os

import pytest
import torch

from dp_plugin.modalities import DiffusionPrint
from dp_plugin.modalities.export_format import read_export_metadata
from dp_plugin.pretrain.diffusion_print_pretrainer import DiffusionPrintPretrainer
from dp_plugin.pretrain.export import export_backbone
from dp_plugin.pretrain.linear_probe import load_frozen_encoder
from pretrain_synth import loss_of, one_thread  # noqa: F401 (autouse)


@pytest.fixture
def trained_checkpoint(tmp_path):
    """A runner-style checkpoint of a pretrainer after a few steps (BN stats moved)."""
    torch.manual_seed(0)
    model = DiffusionPrintPretrainer(backbone=dict(type='DnCNN', depth=4, width=8,
                                                   out_channels=8),
                                     patch_size=16, queue_size=32, topk=4,
                                     data_preprocessor=dict(input_highpass=0.1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        b = 4
        losses = loss_of(model, dict(
            views=torch.randint(0, 256, (b, 2, 3, 16, 16), dtype=torch.uint8),
            num_pos=torch.ones(b, dtype=torch.long),
            category=torch.tensor([0, 1, 0, 1]), gen_label=torch.tensor([0, 1, 0, 2]),
            neg=torch.randint(0, 256, (b, 3, 16, 16), dtype=torch.uint8),
            neg_category=torch.ones(b, dtype=torch.long),
            neg_gen_label=torch.ones(b, dtype=torch.long),
            neg_valid=torch.ones(b, dtype=torch.long)))
        opt.zero_grad()
        losses['loss_nce'].backward()
        opt.step()
    # a config of before the views moved to the data preprocessor: old checkpoints' export
    cfg = ("model = dict(type='DiffusionPrintPretrainer', input_highpass=0.1)\n"
           "train_dataloader = dict(dataset=dict(generators=['simnn', 'simbl', 'simtc']))\n")
    path = str(tmp_path / 'epoch_1.pth')
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(cfg=cfg, experiment_name='tiny_run')), path)
    return model.eval(), path


def test_export_round_trip(trained_checkpoint, tmp_path):
    model, ckpt = trained_checkpoint
    out = str(tmp_path / 'dp.safetensors')
    export_backbone(ckpt, out)
    meta = read_export_metadata(out)
    assert meta['architecture'] == dict(type='DnCNN', in_channels=3, out_channels=8, depth=4,
                                        width=8)
    assert meta['pixel_divisor'] == 255 and meta['input_highpass'] == 0.1
    assert meta['generators'] == ['simnn', 'simbl', 'simtc']
    assert meta['source_config'] == 'tiny_run' and meta['modality'] == 'DiffusionPrint'
    x = torch.rand(2, 3, 24, 20)
    with torch.no_grad():
        expect = model.online.encoder(model.data_preprocessor.high_pass(x))
    modality = DiffusionPrint(checkpoint=out)  # architecture and HP from the metadata
    assert modality.out_channels == 8 and modality.input_highpass == 0.1
    torch.testing.assert_close(modality(x), expect, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(load_frozen_encoder(out)(x), expect, rtol=1e-5, atol=1e-5)
    # the modality also reads the runner checkpoint itself (online encoder, not the EMA)
    direct = DiffusionPrint(checkpoint=ckpt, out_channels=8, depth=4, width=8,
                            input_highpass=0.1)
    torch.testing.assert_close(direct(x), expect, rtol=1e-5, atol=1e-5)


def test_export_momentum_encoder_and_errors(trained_checkpoint, tmp_path):
    model, ckpt = trained_checkpoint
    out = str(tmp_path / 'k.safetensors')
    export_backbone(ckpt, out, which='momentum')
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        expect = model.momentum_encoder.module.encoder.eval()(model.data_preprocessor.high_pass(x))
    torch.testing.assert_close(DiffusionPrint(checkpoint=out)(x), expect, rtol=1e-5, atol=1e-5)
    with pytest.raises(FileNotFoundError):
        export_backbone(str(tmp_path / 'missing.pth'), out)
    assert os.path.isfile(out)
