"""The pretraining fast path: channels_last + autocast through MixedPrecisionOptimWrapper,
fp32 loss and queue, no host syncs in the step, the same step as the eager reference."""
import contextlib
import copy
import os
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.model import ExponentialMovingAverage
from mmengine.optim import OptimWrapper

import dp_plugin.pretrain.diffusion_print_pretrainer as dpp
from dp_plugin.pretrain.diffusion_print_pretrainer import DiffusionPrintPretrainer
from dp_plugin.pretrain.mixed_precision_optim_wrapper import (MixedPrecisionOptimWrapper,
                                                              cpu_has_bf16)
from dp_plugin.registry import OPTIM_WRAPPERS
from pretrain_synth import one_thread  # noqa: F401 (autouse)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(backbone=dict(type='DnCNN', depth=3, width=8, out_channels=8), patch_size=16,
            queue_size=64, topk=8, num_classes=4, cls_weight=1.0, proj_hidden=16, embed_dim=16)


def _batch(b=6, p=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(views=torch.randint(0, 256, (b, 4, 3, p, p), dtype=torch.uint8, generator=g),
                num_pos=torch.tensor([3, 2, 0, 3, 1, 3])[:b],
                category=torch.tensor([0, 1, 1, 0, 1, 1])[:b],
                gen_label=torch.tensor([0, 1, 2, 0, 3, 1])[:b],
                neg=torch.randint(0, 256, (b, 3, p, p), dtype=torch.uint8, generator=g),
                neg_category=torch.tensor([1, 0, 1, 1, 0, 1])[:b],
                neg_gen_label=torch.tensor([2, 0, 1, 3, 0, 2])[:b],
                neg_valid=torch.tensor([1, 1, 0, 1, 1, 1])[:b])


def _pair(**fast_kw):
    torch.manual_seed(0)
    eager = DiffusionPrintPretrainer(**TINY).train()
    fast = DiffusionPrintPretrainer(**TINY, **fast_kw).train()
    fast.load_state_dict(copy.deepcopy(eager.state_dict()))
    return eager, fast


def _sgd(model):
    return torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)


@contextlib.contextmanager
def _no_host_sync(monkeypatch):
    """Any tensor -> Python read (item, bool, int, float) raises: each is a device sync."""
    def boom(self, *a, **k):
        raise AssertionError('host sync on the training step')
    with monkeypatch.context() as m:
        for name in ('item', '__bool__', '__int__', '__float__', 'tolist'):
            m.setattr(torch.Tensor, name, boom)
        yield


def test_fast_step_has_no_host_sync(monkeypatch):
    """Two full train_steps (the momentum copy at step 0, the EMA lerp after) never read a
    tensor on the host; mmengine's own EMA branches on its ``steps`` tensor. (SGD: Adam
    without ``capturable`` reads its step counter with ``.item()``, PyTorch's own.)"""
    model = DiffusionPrintPretrainer(**TINY, channels_last=True).train()
    wrapper = MixedPrecisionOptimWrapper(optimizer=_sgd(model), dtype='bfloat16')
    data = _batch()
    with _no_host_sync(monkeypatch):
        for _ in range(2):
            losses = model.train_step(data, wrapper)
    assert set(losses) >= {'loss', 'loss_nce', 'loss_cls'}
    assert torch.isfinite(losses['loss'])
    assert int(model.momentum_encoder.steps) == 2
    assert int(model.queue.ptr) == 12  # 6 pool keys per step


def test_loss_and_queue_stay_fp32_under_bf16_autocast(monkeypatch):
    """The encoders run in bf16, the InfoNCE logits, head, losses and queue in fp32."""
    model = DiffusionPrintPretrainer(**TINY, channels_last=True).train()
    wrapper = MixedPrecisionOptimWrapper(optimizer=_sgd(model), dtype='bfloat16')
    seen = {}
    real = dpp.hard_negative_info_nce

    def spy(q, k, bank, *a, **kw):
        seen.update(q=q.dtype, k=k.dtype, bank=bank.dtype,
                    autocast=torch.is_autocast_enabled('cpu'))
        loss, n = real(q, k, bank, *a, **kw)
        seen['loss'] = loss.dtype
        return loss, n
    enc_dtype = {}
    model.online.encoder.register_forward_hook(
        lambda m, i, o: enc_dtype.setdefault('online', o.dtype) and None)
    monkeypatch.setattr(dpp, 'hard_negative_info_nce', spy)
    losses = model.train_step(_batch(), wrapper)
    assert enc_dtype['online'] == torch.bfloat16  # autocast reached the encoder
    assert seen == dict(q=torch.float32, k=torch.float32, bank=torch.float32, autocast=False,
                        loss=torch.float32)
    assert model.queue.feats.dtype == torch.float32
    assert all(v.dtype == torch.float32 for v in losses.values())
    assert model.online.encoder[0].weight.dtype == torch.float32  # fp32 master weights


def test_channels_last_fp32_step_equals_eager():
    """Same weights, batch and RNG: the channels_last fp32 step gives the eager losses,
    weights and queue (to float tolerance), and the momentum copy keeps the format."""
    eager, fast = _pair(channels_last=True)
    conv = fast.momentum_encoder.module.encoder[0].weight
    assert conv.is_contiguous(memory_format=torch.channels_last)
    outs = []
    for model in (eager, fast):
        wrapper = OptimWrapper(_sgd(model))
        torch.manual_seed(1)
        outs.append([model.train_step(_batch(seed=s), wrapper) for s in range(3)])
    for a, b in zip(*outs):
        for key in a:
            torch.testing.assert_close(b[key], a[key], rtol=1e-4, atol=1e-5)
    for (name, pa), pb in zip(eager.state_dict().items(), fast.state_dict().values()):
        torch.testing.assert_close(pb, pa, rtol=1e-4, atol=1e-5, msg=name)


def test_bf16_step_close_to_fp32():
    """bf16 autocast changes the numbers by bf16 rounding only (losses within 5 %)."""
    eager, fast = _pair(channels_last=True)
    torch.manual_seed(1)
    ref = eager.train_step(_batch(), OptimWrapper(_sgd(eager)))
    torch.manual_seed(1)
    out = fast.train_step(_batch(), MixedPrecisionOptimWrapper(optimizer=_sgd(fast),
                                                                dtype='bfloat16'))
    for key in ('loss_nce', 'loss_cls', 'pos_sim'):
        torch.testing.assert_close(out[key], ref[key], rtol=5e-2, atol=5e-2)
    assert out['num_neg'] == ref['num_neg']


def test_update_momentum_equals_mmengine_ema():
    """The sync-free momentum update is bit for bit mmengine's ExponentialMovingAverage
    (copy at step 0, then lerp with 1 - m; buffers copied)."""
    model = DiffusionPrintPretrainer(**TINY, momentum=0.9).train()
    ref = ExponentialMovingAverage(copy.deepcopy(model.online), momentum=0.1,
                                   update_buffers=False)
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        with torch.no_grad():
            for p in model.online.parameters():
                p.add_(torch.randn(p.shape, generator=g))
        model.online(torch.rand(4, 3, 16, 16))  # moves the BatchNorm statistics
        model.update_momentum()
        ref.update_parameters(model.online)
        for a, b in zip(model.momentum_encoder.module.state_dict().values(),
                        ref.module.state_dict().values()):
            assert torch.equal(a, b)
    assert int(model.momentum_encoder.steps) == 3


def test_mixed_precision_wrapper_dtypes_and_state():
    """'auto' is bf16 on a CPU with native bf16, else fp32 (autocast off); only fp16
    scales the loss; the state_dict carries the scaler like AmpOptimWrapper's."""
    p = torch.nn.Parameter(torch.ones(2))
    auto = MixedPrecisionOptimWrapper(optimizer=torch.optim.SGD([p], lr=0.1))
    assert auto.cast_dtype == (torch.bfloat16 if cpu_has_bf16() else torch.float32)
    bf16 = MixedPrecisionOptimWrapper(optimizer=torch.optim.SGD([p], lr=0.1),
                                      dtype='bfloat16')
    assert not bf16.loss_scaler.is_enabled()
    fp32 = MixedPrecisionOptimWrapper(optimizer=torch.optim.SGD([p], lr=0.1), dtype='float32')
    with fp32.optim_context(torch.nn.Linear(1, 1)):
        assert not torch.is_autocast_enabled('cpu')
    with bf16.optim_context(torch.nn.Linear(1, 1)):
        assert torch.is_autocast_enabled('cpu')
        assert torch.get_autocast_dtype('cpu') == torch.bfloat16
    sd = bf16.state_dict()
    assert 'loss_scaler' in sd
    bf16.load_state_dict(sd)
    with pytest.raises(ValueError, match='dtype'):
        MixedPrecisionOptimWrapper(optimizer=torch.optim.SGD([p], lr=0.1), dtype='int8')


def test_paper_config_runs_the_fast_path():
    """The pretraining configs build channels_last models and the mixed-precision wrapper
    (bf16 where the device has it); ``channels_last=False`` / ``dtype='float32'`` turn
    it off."""
    for name, dtype in (('diffusionprint_dncnn17_c64_bs512_q65536_k512_gen4.py', 'auto'),
                        ('diffusionprint_authors_script_dncnn17_c256_bs256_q65536_k64.py',
                         'auto'),
                        ('diffusionprint_tiny_cpu.py', 'float32')):
        cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'pretrain', name))
        assert cfg.model.channels_last is True
        assert cfg.optim_wrapper.type == 'MixedPrecisionOptimWrapper'
        assert cfg.optim_wrapper.dtype == dtype
        p = torch.nn.Parameter(torch.ones(2))
        ow = dict(cfg.optim_wrapper, optimizer=torch.optim.Adam([p]))
        assert isinstance(OPTIM_WRAPPERS.build(ow), MixedPrecisionOptimWrapper)


def test_gpu_check_dry_run():
    """benchmarks/gpu_check.sh --dry-run: the whole script (pretraining ratio rows and the
    512^2 modality rows) on CPU at tiny sizes, in seconds; a bad argument fails clearly."""
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHON=sys.executable)
    script = os.path.join(ROOT, 'benchmarks', 'gpu_check.sh')
    out = subprocess.run(['bash', script, '--dry-run'], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    for row in ('eager fp32', 'bf16 + channels_last', 'bf16 + channels_last + compile'):
        assert f'{row}:' in text
    assert 'anchors/s' in text and 'peak memory' in text and 'ratio' in text
    assert 'modality fp32' in text and 'modality bf16' in text
    bad = subprocess.run(['bash', script, '--bogus'], env=env, capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode != 0 and 'unknown argument' in bad.stderr
