"""bf16 frozen inference: ``precision='bf16'`` of the DnCNN modalities and the Localizer."""
import os

import numpy as np
import pytest
import torch
from mmengine.config import Config

from dp_plugin.apis.inference import Localizer
from dp_plugin.modalities import DiffusionPrint, NoisePrintPP
from dp_plugin.modalities import fast_dncnn
from dp_plugin.modalities.fast_dncnn import native_bf16
from _helpers import trained_bn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_bf16 = pytest.mark.skipif(not native_bf16(torch.device('cpu')),
                                reason='CPU without AVX512-BF16 / AMX')


@needs_bf16
def test_bf16_map_close_to_fp32_and_returned_in_fp32():
    fp32 = trained_bn(DiffusionPrint(depth=17, width=16, out_channels=8))
    bf16 = DiffusionPrint(depth=17, width=16, out_channels=8, precision='bf16')
    bf16.load_state_dict(fp32.state_dict())
    x = torch.rand(2, 3, 40, 36)
    ref, out = fp32(x), bf16(x)
    assert out.dtype == torch.float32 and out.shape == ref.shape
    assert out.is_contiguous()
    folded = bf16.folded()
    assert all(lyr.weight.dtype == torch.bfloat16 for lyr in folded.layers)
    rel = ((out - ref).abs().max() / ref.abs().max()).item()
    assert 0 < rel < 2e-2  # bf16 rounding is visible but small (bench: ~5e-3 at 17 x 64)
    # tiling stays exact in bf16 too: same tiles of the same network
    assert torch.equal(bf16(x, tile_size=16), out)


@needs_bf16
def test_precision_can_be_switched_and_rebuilds_the_folded_copy():
    m = trained_bn(NoisePrintPP(precision='fp32'))
    x = torch.rand(1, 3, 24, 24)
    ref = m(x)
    m.precision = 'bf16'
    assert m.folded().dtype == torch.bfloat16
    assert not torch.equal(m(x), ref)
    m.precision = 'fp32'
    assert torch.equal(m(x), ref)
    with pytest.raises(ValueError, match='precision must be one of'):
        m.precision = 'fp16'
    with pytest.raises(ValueError, match='precision must be one of'):
        DiffusionPrint(precision='half')


def test_bf16_without_native_support_warns_and_runs_fp32(monkeypatch):
    monkeypatch.setattr(fast_dncnn, 'native_bf16', lambda device: False)
    fp32 = trained_bn(DiffusionPrint(depth=4, width=8, out_channels=4))
    bf16 = DiffusionPrint(depth=4, width=8, out_channels=4, precision='bf16')
    bf16.load_state_dict(fp32.state_dict())
    x = torch.rand(1, 3, 20, 20)
    with pytest.warns(UserWarning, match='AVX512-BF16/AMX'):
        out = bf16(x)
    assert torch.equal(out, fp32(x))


def test_training_forward_ignores_precision():
    m = DiffusionPrint(depth=3, width=8, out_channels=4, frozen=False, precision='bf16').train()
    x = torch.rand(2, 3, 16, 16, requires_grad=True)
    out = m(x)
    assert out.dtype == torch.float32 and out.requires_grad


LITE_DP = 'configs/lite_baseline/lite-baseline_mit-b0-tiny_diffusionprint_sim-128x128.py'


@needs_bf16
def test_localizer_precision_bf16_runs_modality_and_model_in_bf16(monkeypatch):
    """``Localizer(precision='bf16')`` on the tiny Lite-DP model: its DiffusionPrint runs
    in bf16, the rest under bf16 autocast; the map stays a float32 probability map close
    to fp32's."""
    cfg = Config.fromfile(os.path.join(ROOT, LITE_DP))
    cfg.model.modality.checkpoint = None
    torch.manual_seed(0)
    fp32 = Localizer(cfg, tile=0)
    bf16 = Localizer(cfg, tile=0, precision='bf16')
    bf16.model.load_state_dict(fp32.model.state_dict())
    modality = bf16.model.modality
    assert isinstance(modality, DiffusionPrint) and modality.precision == 'bf16'
    assert fp32.model.modality.precision == 'fp32'
    seen = []
    head = bf16.model.decode_head
    forward = head.forward
    monkeypatch.setattr(head, 'forward', lambda inputs: (
        seen.append(torch.get_autocast_dtype('cpu') if torch.is_autocast_enabled('cpu')
                    else None), forward(inputs))[1])
    rgb = np.random.default_rng(0).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    ref, out = fp32(rgb), bf16(rgb)
    assert seen == [torch.bfloat16]
    assert modality.folded().dtype == torch.bfloat16
    assert out.map.dtype == np.float32 and out.map.shape == (48, 40)
    assert np.abs(out.map - ref.map).max() < 0.05
    with pytest.raises(ValueError, match='precision must be one of'):
        Localizer(cfg, tile=0, precision='fp16')
