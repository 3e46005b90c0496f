"""TruFor configs: NP++ and DiffusionPrint variants differ only in the modality/adapter."""
import copy
import glob
import os.path as osp

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'trufor', '*.py')))


def _strip(cfg: Config) -> dict:
    d = copy.deepcopy(cfg.to_dict())
    d['model'].pop('modality')
    d['model'].pop('adapter')
    d.pop('load_from', None)
    return d


def test_there_are_phase2_and_phase3_configs_for_each_variant():
    names = [osp.basename(c) for c in CONFIGS]
    for size in ('mit-b2', 'mit-b0-tiny'):
        for phase in ('phase2', 'phase3'):
            assert any(n.startswith(f'trufor_{size}_{phase}_noiseprintpp') for n in names)
            assert any(n.startswith(f'trufor_{size}_{phase}_diffusionprint-simple') for n in names)


@pytest.mark.parametrize('size,phase', [('mit-b2', 'phase2'), ('mit-b2', 'phase3'),
                                        ('mit-b0-tiny', 'phase2'), ('mit-b0-tiny', 'phase3')])
def test_variants_differ_only_in_modality_and_adapter(size, phase):
    group = [c for c in CONFIGS if osp.basename(c).startswith(f'trufor_{size}_{phase}_')]
    cfgs = [Config.fromfile(c) for c in group]
    ref = _strip(cfgs[0])
    for path, cfg in zip(group[1:], cfgs[1:]):
        assert _strip(cfg) == ref, path
    for cfg in cfgs:
        assert cfg.model.type == 'TruFor'
        assert cfg.model.phase == ('localization' if phase == 'phase2' else 'confidence')
        if phase == 'phase3':
            assert cfg.load_from and 'phase2' in cfg.load_from
            assert cfg.default_hooks.checkpoint.save_best == 'det_bacc'
        if size == 'mit-b2':
            assert cfg.train_dataloader.batch_size == 9
            assert cfg.optim_wrapper.accumulative_counts == 2
            assert cfg.optim_wrapper.optimizer.lr == 0.005
            assert cfg.optim_wrapper.paramwise_cfg == dict(norm_decay_mult=0.0,
                                                           bias_decay_mult=0.0)
            assert cfg.crop_size == (512, 512)
        ce, dice = cfg.model.decode_head.loss_decode   # TruFor: 0.3 wCE + 0.7 Dice (exp. 2)
        assert (ce.type, ce.loss_weight, list(ce.class_weight)) == (
            'ForgeryCrossEntropyLoss', 0.3, [0.5, 2.5])
        assert (dice.type, dice.loss_weight, dice.exponent) == ('ForgeryDiceLoss', 0.7, 2)
