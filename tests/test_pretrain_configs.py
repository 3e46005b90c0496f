"""Every pretraining config loads and builds its model; the paper config has the paper's values."""
import glob
import os

import pytest
from mmengine.config import Config

from dp_plugin.registry import MODELS
from pretrain_synth import one_thread  # noqa: F401 (autouse)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, 'configs', 'pretrain', '**', '*.py'), recursive=True))


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: os.path.relpath(p, ROOT))
def test_config_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'dp_plugin'
    model = MODELS.build(dict(cfg.model, queue_size=8))  # a small queue: memory only
    assert model.topk == cfg.model.topk
    assert cfg.train_dataloader.dataset.type == 'PatchPairDataset'


def test_paper_configs_hold_the_paper_values():
    base = Config.fromfile(os.path.join(
        ROOT, 'configs/pretrain/diffusionprint_dncnn17_c64_bs512_q65536_k512_base.py'))
    m = base.model
    assert (m.backbone.depth, m.backbone.out_channels, m.queue_size, m.topk) == (17, 64, 65536, 512)
    assert (m.temperature, m.momentum, m.cls_weight, m.flip) == (0.07, 0.999, 0.0, True)
    assert base.train_dataloader.batch_size == 512
    gen4 = Config.fromfile(os.path.join(
        ROOT, 'configs/pretrain/diffusionprint_dncnn17_c64_bs512_q65536_k512_gen4.py'))
    assert gen4.model.num_classes == 4 and gen4.model.cls_weight > 0
    jpeg = Config.fromfile(os.path.join(ROOT, 'configs/pretrain/ablations/t3_aug_geometric_jpeg.py'))
    assert jpeg.model.jpeg == dict(quality=(70, 95), prob=0.5)
