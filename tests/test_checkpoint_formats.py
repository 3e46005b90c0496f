"""Every published DnCNN checkpoint format loads; wrong, corrupt or unsafe files are refused."""
import os
import os.path as osp
from collections import OrderedDict

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

from dp_plugin.modalities import DiffusionPrint, DnCNN, NoisePrintPP
from dp_plugin.modalities.checkpoint_formats import (CheckpointFormatError, load_dncnn_state_dict,
                                                     read_export_metadata, save_modality_export)
from _helpers import random_dncnn, ShellExploit


def prefixed(sd, prefix):
    return OrderedDict((prefix + k, v) for k, v in sd.items())


def assert_same_weights(module, sd):
    got = module.dncnn.state_dict()
    assert set(got) == set(sd)
    for k in sd:
        assert torch.equal(got[k], sd[k]), k


@pytest.fixture
def dp_net():
    return random_dncnn(seed=1)


@pytest.fixture
def np_net():
    return random_dncnn(out_channels=1, seed=2)


def test_authors_training_checkpoint_loads_query_encoder(tmp_path, dp_net):
    key_net = random_dncnn(seed=3)
    q, k = dp_net.state_dict(), key_net.state_dict()
    model_sd = OrderedDict()
    model_sd.update(prefixed(q, 'encoder_q.'))
    model_sd.update(prefixed(k, 'encoder_k.'))
    model_sd['projector.0.weight'] = torch.randn(128, 64)
    model_sd['queue'] = torch.randn(128, 4096)
    model_sd['queue_ptr'] = torch.zeros(1, dtype=torch.long)
    path = tmp_path / 'dp_checkpoint.pth'
    torch.save({'epoch': 30, 'model_state_dict': model_sd, 'optimizer_state_dict': {},
                'loss': 0.5}, path)
    modality = DiffusionPrint(checkpoint=str(path))
    assert_same_weights(modality, q)

    legacy = OrderedDict(prefixed(q, 'dncnn_q.'))
    legacy.update(prefixed(k, 'dncnn_k.'))
    torch.save({'model_state_dict': legacy}, tmp_path / 'legacy.pth')
    assert_same_weights(DiffusionPrint(checkpoint=str(tmp_path / 'legacy.pth')), q)


@pytest.mark.parametrize('prefix', ['dncnn.', 'module.dncnn.'])
def test_trufor_checkpoint(tmp_path, np_net, prefix):
    sd = OrderedDict(prefixed(np_net.state_dict(), prefix))
    outer = prefix.replace('dncnn.', '')
    sd[outer + 'backbone.patch_embed1.proj.weight'] = torch.randn(64, 3, 7, 7)
    sd[outer + 'decode_head.linear_fuse.conv.weight'] = torch.randn(512, 2048, 1, 1)
    torch.save({'epoch': 1, 'state_dict': sd}, tmp_path / 'trufor.pth.tar')
    assert_same_weights(NoisePrintPP(checkpoint=str(tmp_path / 'trufor.pth.tar')),
                        np_net.state_dict())


def test_noiseprint_th_and_mmfusion_formats(tmp_path, np_net):
    sd = np_net.state_dict()
    torch.save({'network': sd, 'global_step': 123}, tmp_path / 'noiseprint++.th')
    torch.save(sd, tmp_path / 'np++.pth')
    extractor = OrderedDict(prefixed(sd, 'noiseprint.'))
    extractor['bayar.kernel'] = torch.rand(3, 3, 24)
    extractor['srm.filters'] = torch.rand(3, 3, 5, 5)
    torch.save({'epoch': 3, 'val_loss': 0.1, 'state_dict': {'backbone.x.weight': torch.ones(2)},
                'extractor_state_dict': extractor}, tmp_path / 'best_val_loss.pth')
    for name in ['noiseprint++.th', 'np++.pth', 'best_val_loss.pth']:
        assert_same_weights(NoisePrintPP(checkpoint=str(tmp_path / name)), sd)


def test_runner_checkpoint_finds_the_dncnn_prefix(tmp_path, dp_net):
    q = dp_net.state_dict()
    sd = OrderedDict(prefixed(q, 'backbone.'))
    sd.update(prefixed(random_dncnn(seed=5).state_dict(), 'backbone_k.'))
    sd['neck.fc.weight'] = torch.randn(128, 64)
    buf = HistoryBuffer()
    buf.update(0.25)
    ckpt = {'meta': {'iter': 2, 'seed': 0}, 'state_dict': sd,
            'message_hub': {'log_scalars': {'train/loss': buf},
                            'runtime_info': {'eta': np.float64(1.5)}}}
    torch.save(ckpt, tmp_path / 'iter_2.pth')
    assert_same_weights(DiffusionPrint(checkpoint=str(tmp_path / 'iter_2.pth')), q)
    # The layout of this project's DiffusionPrintPretrainer (online + momentum encoder).
    sd = OrderedDict(prefixed(q, 'online.encoder.'))
    sd.update(prefixed(random_dncnn(seed=6).state_dict(), 'momentum_encoder.module.encoder.'))
    sd['online.projector.0.weight'] = torch.randn(128, 64)
    torch.save(dict(ckpt, state_dict=sd), tmp_path / 'iter_4.pth')
    assert_same_weights(DiffusionPrint(checkpoint=str(tmp_path / 'iter_4.pth')), q)


def test_ambiguous_checkpoint_needs_prefix(tmp_path, dp_net):
    other = random_dncnn(seed=7)
    sd = OrderedDict(prefixed(dp_net.state_dict(), 'student.'))
    sd.update(prefixed(other.state_dict(), 'auxiliary.'))
    path = str(tmp_path / 'two.pth')
    torch.save({'state_dict': sd}, path)
    with pytest.raises(CheckpointFormatError, match='several DnCNNs.*prefix'):
        DiffusionPrint(checkpoint=path)
    modality = DiffusionPrint()
    modality.load_checkpoint(path, prefix='auxiliary.')
    assert_same_weights(modality, other.state_dict())


def test_export_round_trip_configures_the_modality(tmp_path):
    net = random_dncnn(out_channels=8, depth=5, width=16, seed=4)
    path = str(tmp_path / 'exports' / 'dp.safetensors')
    meta = {'modality': 'DiffusionPrint',
            'architecture': {'type': 'DnCNN', 'in_channels': 3, 'out_channels': 8, 'depth': 5,
                             'width': 16},
            'pixel_divisor': 256, 'input_highpass': 0.1, 'generators': ['simnn'],
            'source_config': 'configs/pretrain/x.py', 'created': '2026-11-28T00:00:00Z'}
    save_modality_export(path, net.state_dict(), meta)
    assert os.listdir(osp.dirname(path)) == ['dp.safetensors']  # no temp file left behind
    assert read_export_metadata(path)['format_version'] == 1

    for modality in (DiffusionPrint(checkpoint=path), DiffusionPrint.from_export(path)):
        assert (modality.out_channels, modality.dncnn.depth, modality.dncnn.width) == (8, 5, 16)
        assert modality.pixel_divisor == 256 and modality.input_highpass == 0.1
        assert_same_weights(modality, net.state_dict())
        assert modality(torch.rand(1, 3, 20, 24)).shape == (1, 8, 20, 24)
    assert DiffusionPrint(checkpoint=path, input_highpass=0).high_pass is None
    with pytest.raises(ValueError, match='out_channels=8.*out_channels=64'):
        DiffusionPrint(checkpoint=path, out_channels=64)
    # The loader checks the recorded architecture against the target network.
    with pytest.raises(CheckpointFormatError, match='dp_plugin export of DnCNN'):
        load_dncnn_state_dict(path, DnCNN(3, 64))


def test_one_channel_weights_into_diffusion_print_is_refused(tmp_path, np_net):
    path = str(tmp_path / 'noiseprint++.th')
    torch.save({'network': np_net.state_dict()}, path)
    with pytest.raises(CheckpointFormatError) as err:
        DiffusionPrint(checkpoint=path)
    msg = str(err.value)
    assert path in msg and 'out_channels=1' in msg and 'NoisePrintPP' in msg
    assert 'Expected one of' in msg and 'encoder_q' in msg


def test_files_without_a_dncnn_are_refused(tmp_path):
    torch.save({'state_dict': {'backbone.conv.weight': torch.randn(4, 3, 3, 3)}},
               tmp_path / 'segformer.pth')
    torch.save([torch.randn(3)], tmp_path / 'list.pth')
    with pytest.raises(CheckpointFormatError, match='segformer.pth.*no DnCNN state_dict'):
        DiffusionPrint(checkpoint=str(tmp_path / 'segformer.pth'))
    with pytest.raises(CheckpointFormatError, match='list object, not a dict'):
        DiffusionPrint(checkpoint=str(tmp_path / 'list.pth'))
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        DiffusionPrint(checkpoint=str(tmp_path / 'missing.pth'))


def test_corrupted_files_are_refused(tmp_path, dp_net):
    good = tmp_path / 'good.pth'
    torch.save({'network': dp_net.state_dict()}, good)
    data = good.read_bytes()
    (tmp_path / 'truncated.pth').write_bytes(data[:len(data) // 2])
    (tmp_path / 'garbage.pth').write_bytes(os.urandom(4096))
    (tmp_path / 'empty.pth').write_bytes(b'')
    export = tmp_path / 'dp.safetensors'
    save_modality_export(str(export), dp_net.state_dict(), {'architecture': {}})
    blob = export.read_bytes()
    (tmp_path / 'cut.safetensors').write_bytes(blob[:len(blob) - 1000])
    for name in ['truncated.pth', 'garbage.pth', 'empty.pth', 'cut.safetensors']:
        with pytest.raises(CheckpointFormatError, match=name):
            DiffusionPrint(checkpoint=str(tmp_path / name))


def test_pickle_with_code_is_refused(tmp_path, dp_net):
    marker = tmp_path / 'pwned'
    path = str(tmp_path / 'evil.pth')
    torch.save({'network': dp_net.state_dict(), 'x': ShellExploit(marker)}, path)
    with pytest.raises(CheckpointFormatError, match='refused to unpickle') as err:
        DiffusionPrint(checkpoint=path)
    assert 'evil.pth' in str(err.value) and 'system' in str(err.value)
    assert not marker.exists()


def test_real_noiseprint_weights(noiseprint_weights):
    modality = NoisePrintPP(checkpoint=noiseprint_weights)
    x = torch.rand(2, 3, 48, 40)
    out = modality(x)
    assert out.shape == (2, 1, 48, 40)
    assert torch.isfinite(out).all() and out.std() > 0
    tiled = NoisePrintPP(checkpoint=noiseprint_weights, tile_to_3=True)(x)
    assert tiled.shape == (2, 3, 48, 40) and torch.allclose(tiled[:, 2:], out)
    # Untouched weights produce a different map: the file really was loaded.
    assert not torch.allclose(NoisePrintPP()(x), out)
