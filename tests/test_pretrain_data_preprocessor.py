"""The pretrainer in mmpretrain's MoCo style: backbone from the registry, the views
(uint8 -> float, JPEG, flips, the MoCo baseline's views, input filter, channels_last) in
:class:`PatchPairDataPreprocessor`, the objective in the model; same numbers as before."""
import os

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.optim import OptimWrapper

from dp_plugin.modalities.dncnn import DnCNN
from dp_plugin.modalities.export_format import read_export_metadata
from dp_plugin.pretrain.diffusion_print_pretrainer import DiffusionPrintPretrainer
from dp_plugin.pretrain.export import export_backbone
from dp_plugin.pretrain.patch_pair_data_preprocessor import PatchPairDataPreprocessor
from dp_plugin.registry import MODELS
from pretrain_synth import loss_of, one_thread  # noqa: F401 (autouse)

TINY = dict(backbone=dict(type='DnCNN', depth=3, width=8, out_channels=8), patch_size=16,
            queue_size=64, topk=8, num_classes=4, cls_weight=1.0, proj_hidden=16,
            embed_dim=16)


def _batch(seed, b=6, p=16, num_pos=(3, 2, 0, 3, 1, 3)):
    g = torch.Generator().manual_seed(seed)
    return dict(views=torch.randint(0, 256, (b, 4, 3, p, p), dtype=torch.uint8, generator=g),
                num_pos=torch.tensor(num_pos), category=torch.tensor([0, 1, 1, 0, 1, 1]),
                gen_label=torch.tensor([0, 1, 2, 0, 3, 1]),
                neg=torch.randint(0, 256, (b, 3, p, p), dtype=torch.uint8, generator=g),
                neg_category=torch.tensor([1, 0, 1, 1, 0, 1]),
                neg_gen_label=torch.tensor([2, 0, 1, 3, 0, 2]),
                neg_valid=torch.tensor([1, 1, 0, 1, 1, 1]))


class _StandIn(nn.Module):
    """A registered stand-in backbone: one 3x3 convolution."""

    def __init__(self, out_channels: int = 5) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.conv = nn.Conv2d(3, out_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


@pytest.fixture
def stand_in():
    name = 'PretrainStandInBackbone'
    MODELS.register_module(name=name, module=_StandIn, force=True)
    yield name
    MODELS._module_dict.pop(name)


def test_backbone_is_built_from_the_registry(stand_in):
    """``backbone=dict(type=...)`` goes through ``MODELS``: a registered stand-in is the
    online and the momentum encoder and trains; the DnCNN is registered; plain DnCNN
    kwargs (the old form) are refused with the fix named."""
    model = DiffusionPrintPretrainer(**dict(TINY, backbone=dict(type=stand_in, out_channels=5)))
    assert type(model.online.encoder) is _StandIn
    assert type(model.momentum_encoder.module.encoder) is _StandIn
    assert model.online.projector[2].in_features == 5
    losses = model.train_step(_batch(0), OptimWrapper(torch.optim.SGD(model.parameters(), 0.1)))
    assert torch.isfinite(losses['loss'])
    assert MODELS.get('DnCNN') is DnCNN
    assert type(DiffusionPrintPretrainer(**TINY).online.encoder) is DnCNN
    with pytest.raises(ValueError, match=r"backbone has no type.*type='DnCNN'"):
        DiffusionPrintPretrainer(**dict(TINY, backbone=dict(depth=3, width=8, out_channels=8)))


def test_moved_options_and_bad_combinations_name_the_key():
    """The view options of the old constructor name their new place; contradictions and
    the JPEG + MoCo-baseline combination are refused naming the key."""
    for key, value in (('flip', False), ('pairing', 'moco_aug'), ('input_highpass', 0.1),
                       ('flip_per_batch', True), ('jpeg', dict(quality=(70, 95), prob=0.5))):
        with pytest.raises(ValueError, match=f'model.data_preprocessor.{key}'):
            DiffusionPrintPretrainer(**TINY, **{key: value})
    with pytest.raises(TypeError, match="'flipp'"):
        DiffusionPrintPretrainer(**TINY, flipp=True)
    # a whole pre-refactor model dict: every change it needs, named in one message
    with pytest.raises(ValueError) as err:
        DiffusionPrintPretrainer(backbone=dict(depth=3, width=8, out_channels=8),
                                 flip=True, pairing='patch', input_highpass=0.1)
    for part in ('data_preprocessor.flip', 'data_preprocessor.pairing',
                 'data_preprocessor.input_highpass', 'backbone has no type'):
        assert part in str(err.value)
    with pytest.raises(ValueError, match='data_preprocessor.channels_last'):
        DiffusionPrintPretrainer(**TINY, channels_last=True,
                                 data_preprocessor=dict(channels_last=False))
    with pytest.raises(ValueError, match='data_preprocessor.channels_last'):  # a built one
        DiffusionPrintPretrainer(**TINY, channels_last=True,
                                 data_preprocessor=PatchPairDataPreprocessor())
    with pytest.raises(ValueError, match='data_preprocessor.jpeg'):
        PatchPairDataPreprocessor(pairing='moco_aug', jpeg=dict(quality=(70, 95), prob=0.5))
    with pytest.raises(ValueError, match='data_preprocessor.pairing'):
        PatchPairDataPreprocessor(pairing='simclr')
    model = DiffusionPrintPretrainer(**TINY)
    with pytest.raises(TypeError, match='data_preprocessor'):  # raw uint8 into the model
        model(_batch(0)['views'][:, 0], mode='tensor')


def test_flips_happen_in_the_preprocessor_in_the_checkpointed_rng_order():
    """Training views: positive pick, then the anchor's h/v flips, then the positive's, all
    from torch's global generator (the state RNGStateHook checkpoints); without training
    the views are ``uint8 / 255`` exactly; the model's loss itself draws nothing."""
    pre = PatchPairDataPreprocessor()
    data = _batch(1)
    v, n = data['views'], data['num_pos']
    torch.manual_seed(5)
    anchor, positive = pre(data, training=True)['inputs']
    torch.manual_seed(5)
    pick = 1 + (torch.rand(6) * n.clamp(min=1)).long().clamp(max=3)

    def flipped(x):
        h, w = torch.rand(6) < 0.5, torch.rand(6) < 0.5
        x = torch.where(h[:, None, None, None], x.flip(-1), x)
        return torch.where(w[:, None, None, None], x.flip(-2), x)
    want_a = flipped(v[:, 0].float() / 255)
    want_p = flipped(v[torch.arange(6), pick].float() / 255)
    assert torch.equal(anchor, want_a) and torch.equal(positive, want_p)
    assert not torch.equal(anchor, v[:, 0].float() / 255)  # some flip was drawn
    out = pre(data, training=False)
    assert torch.equal(out['inputs'][0], v[:, 0].float() / 255)
    assert torch.equal(out['neg'], data['neg'].float() / 255)  # pool: never augmented
    assert out['has_pos'].tolist() == [True, True, False, True, True, True]
    # the model: prepared float views in, no random draw, same loss as train_step's path
    torch.manual_seed(0)
    model = DiffusionPrintPretrainer(**TINY).train()
    ref = DiffusionPrintPretrainer(**TINY).train()
    ref.load_state_dict(model.state_dict())
    torch.manual_seed(3)
    prepared = model.data_preprocessor(data, True)
    state = torch.get_rng_state()
    losses = model(**prepared, mode='loss')
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(3)
    for key, value in loss_of(ref, data).items():
        assert torch.equal(losses[key], value), key


def test_channels_last_follows_the_model_and_queue_fill_is_unaugmented():
    """The model's ``channels_last`` reaches the preprocessor's views; the queue fill
    (QueueFillHook -> fill_queue) prepares pool patches without JPEG or flips and draws
    no random number."""
    model = DiffusionPrintPretrainer(**TINY, channels_last=True, data_preprocessor=dict(
        jpeg=dict(quality=(70, 70), prob=1.0), flip=True)).train()
    assert model.data_preprocessor.channels_last
    anchor = model.data_preprocessor(_batch(0), True)['inputs'][0]
    assert anchor.is_contiguous(memory_format=torch.channels_last)
    x = _batch(2)['neg']
    model.momentum_encoder.update_parameters(model.online)  # a copy, as fill_queue does
    with torch.no_grad():
        want = F.normalize(model.momentum_encoder.module.eval()(x.float() / 255), dim=1)
    state = torch.get_rng_state()
    model.fill_queue([(x, torch.zeros(6, dtype=torch.long), torch.zeros(6, dtype=torch.long))])
    assert torch.equal(torch.get_rng_state(), state)
    torch.testing.assert_close(model.queue.feats[:6], want, rtol=1e-5, atol=1e-6)
    assert model.training  # back in training mode


#: main (85ecd6e, before the views moved to the preprocessor): ``(loss_nce, loss_cls,
#: pos_sim, num_neg)`` of two train_steps (SGD lr 0.05 momentum 0.9, torch seed 0 for the
#: weights, 1 before the queue fill and the steps), recorded with the old constructor.
MAIN = {
    'default': ({}, [(0.9520702362060547, 1.4375230073928833, 0.9997040033340454, 3.0),
                     (1.2987616062164307, 1.4539395570755005, 0.7866292595863342, 16 / 3)]),
    'authors': (dict(projector_bn=True, in_batch_negatives=True, head_input='normalized',
                     neg_batch_size=3, data_preprocessor=dict(flip_per_batch=True)),
                [(9.071414947509766, 1.4406695365905762, -0.06457684934139252, 41 / 6),
                 (11.611448287963867, 1.5518122911453247, -0.2797844707965851, 47 / 6)]),
    'jpeg': (dict(data_preprocessor=dict(jpeg=dict(quality=(70, 95), prob=0.5))),
             [(0.995840847492218, 1.4399784803390503, 0.9979797601699829, 3.0),
              (1.4793812036514282, 1.4463478326797485, 0.8052871823310852, 16 / 3)]),
    'moco_hp': (dict(data_preprocessor=dict(pairing='moco_aug', input_highpass=0.1)),
                [(1.1386758089065552, 1.4361305236816406, 0.9799315929412842, 3.0),
                 (1.5791672468185425, 1.444541573524475, 0.7710425853729248, 16 / 3)]),
    'gaussian': (dict(data_preprocessor=dict(input_highpass=dict(type='gaussian', sigma=1.0))),
                 [(0.9066877365112305, 1.437543511390686, 0.9996600151062012, 3.0),
                  (1.2510490417480469, 1.4540430307388306, 0.7792943716049194, 16 / 3)]),
}


@pytest.mark.parametrize('case', sorted(MAIN))
def test_train_steps_equal_mains(case):
    """The same weights, draws and losses as the model-side augmentation of main."""
    kw, want = MAIN[case]
    torch.manual_seed(0)
    model = DiffusionPrintPretrainer(**dict(TINY, **kw)).train()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9))
    torch.manual_seed(1)
    model.fill_queue([(_batch(9)['neg'], torch.tensor([0, 1] * 3),
                       torch.tensor([0, 1, 0, 2, 0, 3]))])
    for step, expect in enumerate(want):
        out = model.train_step(_batch(step), wrapper)
        got = tuple(float(out[k].detach()) for k in ('loss_nce', 'loss_cls', 'pos_sim', 'num_neg'))
        assert got == pytest.approx(expect, rel=1e-4, abs=1e-5), step


def test_export_reads_the_filter_from_the_preprocessor(tmp_path):
    """A checkpoint whose config has ``model.data_preprocessor.input_highpass`` exports
    that filter (the old ``model.input_highpass`` is read too: test_pretrain_export)."""
    model = DiffusionPrintPretrainer(**TINY, data_preprocessor=dict(input_highpass=0.1))
    cfg = ("model = dict(type='DiffusionPrintPretrainer', data_preprocessor=dict("
           "type='PatchPairDataPreprocessor', input_highpass=0.1))\n")
    ckpt = str(tmp_path / 'epoch_1.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict(cfg=cfg)), ckpt)
    out = str(tmp_path / 'dp.safetensors')
    export_backbone(ckpt, out)
    assert read_export_metadata(out)['input_highpass'] == 0.1
    assert os.path.isfile(out)
