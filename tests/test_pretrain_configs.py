"""Every pretraining config loads and builds its model; the two schedule families hold
the paper's and the authors' script's values; their tiny twins run a step on CPU."""
import glob
import math
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from dp_plugin.registry import MODELS
from pretrain_synth import make_patch_set, one_thread  # noqa: F401 (autouse)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, 'configs', 'pretrain', '**', '*.py'), recursive=True))
PAPER = 'configs/pretrain/diffusionprint_dncnn17_c64_bs512_q65536_k512_base.py'
AUTHORS = 'configs/pretrain/diffusionprint_authors_script_dncnn17_c256_bs256_q65536_k64.py'
TINY = ('configs/pretrain/diffusionprint_tiny_cpu.py',
        'configs/pretrain/diffusionprint_tiny_cpu_authors_script.py')


def _cfg(rel):
    return Config.fromfile(os.path.join(ROOT, rel))


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: os.path.relpath(p, ROOT))
def test_config_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'dp_plugin'
    model = MODELS.build(dict(cfg.model, queue_size=8))  # a small queue: memory only
    assert model.topk == cfg.model.topk
    assert cfg.train_dataloader.dataset.type == 'PatchPairDataset'
    assert {h['type'] for h in cfg.custom_hooks} >= {'QueueFillHook', 'RNGStateHook'}


def _schedule(cfg):
    opt = cfg.optim_wrapper
    (sched, ) = cfg.param_scheduler
    return (opt.optimizer.type, opt.optimizer.lr, opt.optimizer.weight_decay,
            opt.clip_grad.max_norm, sched.type, sched.step_size, sched.gamma, sched.by_epoch,
            cfg.train_cfg.max_epochs)


#: The authors' script (train_diffusionprint.py): Adam 1e-3 + weight decay 1e-4, StepLR
#: 10 epochs x 0.1, grad clip 10, 50 epochs; the paper gives no schedule.
AUTHORS_SCHEDULE = ('Adam', 1e-3, 1e-4, 10.0, 'StepLR', 10, 0.1, True, 50)


def test_paper_family_holds_the_paper_values():
    """Paper §3.3-3.5, §4.1-4.2: batch 512, DnCNN-17/64, C 64, MLP(128) to 128, k 512,
    queue 65 536, m 0.999, tau 0.07, flips, no head; the authors' schedule."""
    base = _cfg(PAPER)
    m = base.model
    assert (m.backbone.depth, m.backbone.width, m.backbone.out_channels) == (17, 64, 64)
    assert (m.projector, m.proj_hidden, m.projector_bn, m.embed_dim) == ('mlp', 128, False, 128)
    assert (m.queue_size, m.topk, m.momentum, m.temperature) == (65536, 512, 0.999, 0.07)
    v = m.data_preprocessor
    assert (m.cls_weight, v.pairing, v.flip, v.flip_per_batch, v.jpeg, v.input_highpass) == \
        (0.0, 'patch', True, False, None, None)
    assert (m.enqueue_pool, m.enqueue_positives, m.in_batch_negatives, m.neg_batch_size) == \
        (True, False, False, 128)
    assert m.head_input == 'projection' and m.patch_size == 64
    assert base.train_dataloader.batch_size == 512
    assert _schedule(base) == AUTHORS_SCHEDULE
    gen4 = _cfg('configs/pretrain/diffusionprint_dncnn17_c64_bs512_q65536_k512_gen4.py')
    assert gen4.model.num_classes == 4 and gen4.model.cls_weight > 0
    jpeg = _cfg('configs/pretrain/ablations/t3_aug_geometric_jpeg.py')
    assert jpeg.model.data_preprocessor.jpeg == dict(quality=(70, 95), prob=0.5)
    with open(os.path.join(ROOT, 'configs/_base_/models/diffusionprint_pretrain.py')) as f:
        lines = [ln for ln in f if '=' in ln and not ln.lstrip().startswith(('#', 'type='))]
    assert all('#' in ln for ln in lines[1:]), 'every value line names its source'


def test_authors_script_family_holds_their_defaults():
    """train_diffusionprint.py / builders/diffusionprint.py defaults: batch 256
    (drop_last), DnCNN-17/64 with C 256, Projector 512 with BatchNorm1d after both
    linears, 128-d, k 64, queue 65 536, m 0.999, tau 0.07, in-batch negatives, 128 pool
    patches a step, classifier on the normalised q, flips drawn once per batch."""
    cfg = _cfg(AUTHORS)
    m = cfg.model
    assert (m.backbone.depth, m.backbone.width, m.backbone.out_channels) == (17, 64, 256)
    assert (m.projector, m.proj_hidden, m.projector_bn, m.embed_dim) == ('mlp', 512, True, 128)
    assert (m.queue_size, m.topk, m.momentum, m.temperature) == (65536, 64, 0.999, 0.07)
    assert (m.in_batch_negatives, m.neg_batch_size, m.enqueue_positives) == (True, 128, False)
    assert (m.head_input, m.data_preprocessor.flip, m.data_preprocessor.flip_per_batch) == \
        ('normalized', True, True)
    assert cfg.train_dataloader.batch_size == 256 and cfg.train_dataloader.drop_last
    assert _schedule(cfg) == AUTHORS_SCHEDULE
    model = MODELS.build(dict(m, queue_size=8))
    assert [type(x).__name__ for x in model.online.projector] == [
        'AdaptiveAvgPool2d', 'Flatten', 'Linear', 'BatchNorm1d', 'ReLU', 'Linear', 'BatchNorm1d']


@pytest.mark.parametrize('path', sorted(glob.glob(os.path.join(
    ROOT, 'configs', 'pretrain', 'ablations', '*.py'))), ids=os.path.basename)
def test_ablations_are_short_children_of_paper(path):
    with open(path) as f:
        text = f.read()
    assert 3 <= len(text.strip().splitlines()) <= 10
    cfg, seen = Config.fromfile(path), []
    parent = path
    while True:  # follow the _base_ chain up to the paper root
        with open(parent) as f:
            line = next(ln for ln in f if ln.startswith('_base_'))
        parent = os.path.normpath(os.path.join(os.path.dirname(parent),
                                               line.split('=')[1].strip().strip("'\"")))
        seen.append(os.path.relpath(parent, ROOT))
        if seen[-1] == PAPER:
            break
        assert len(seen) < 4, seen
    assert cfg.train_dataloader.batch_size == 512


class _StopAfterFirstStep(Hook):
    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.outputs = {k: float(v) for k, v in outputs.items()}
        raise KeyboardInterrupt


@pytest.fixture(scope='module')
def patches32(tmp_path_factory):
    return make_patch_set(str(tmp_path_factory.mktemp('tiny')), patch_size=32, n_real=1,
                          n_gen=1, size=96)


@pytest.mark.parametrize('rel', TINY)
def test_tiny_twins_run_a_step_on_cpu(rel, tmp_path, patches32):
    patches = patches32
    cfg = _cfg(rel)
    cfg.work_dir = str(tmp_path / 'work')
    cfg.train_dataloader.dataset.data_root = patches
    runner = Runner.from_cfg(cfg)
    stop = _StopAfterFirstStep()
    runner.register_hook(stop, priority='LOWEST')
    with pytest.raises(KeyboardInterrupt):
        runner.train()
    assert all(math.isfinite(v) for v in stop.outputs.values())
    assert stop.outputs['num_neg'] > 0  # the queue was filled before the first step
    model = runner.model
    assert bool((model.queue.category >= 0).all())
    family = _cfg(PAPER if 'authors' not in rel else AUTHORS)
    for key in ('projector_bn', 'proj_hidden', 'in_batch_negatives', 'head_input',
                'data_preprocessor', 'temperature', 'momentum'):
        assert cfg.model[key] == family.model[key], key
    assert _schedule(cfg)[:8] == AUTHORS_SCHEDULE[:8]
    assert isinstance(model.queue.feats, torch.Tensor)
