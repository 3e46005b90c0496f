"""InfoNCE with cross-category top-k negatives; masking; EMA math; queue."""
import math

import pytest
import torch
import torch.nn.functional as F

from dp_plugin.pretrain.diffusion_print_pretrainer import DiffusionPrintPretrainer
from dp_plugin.pretrain.feature_queue import FeatureQueue
from dp_plugin.pretrain.losses import hard_negative_info_nce
from pretrain_synth import loss_of, one_thread  # noqa: F401 (autouse)
from _helpers import unit_vectors as _unit


def _direct_info_nce(q, k, bank, bank_cat, cat, topk, tau):
    """Eq. 1 written out per anchor: top-k opposite-category, filled queue entries."""
    out = []
    for i in range(q.shape[0]):
        cands = [j for j in range(bank.shape[0]) if bank_cat[j] >= 0 and bank_cat[j] != cat[i]]
        sims = sorted((float(q[i] @ bank[j]) for j in cands), reverse=True)[:topk]
        pos = float(q[i] @ k[i])
        out.append(-math.log(math.exp(pos / tau) /
                             (math.exp(pos / tau) + sum(math.exp(s / tau) for s in sims))))
        out.append(len(sims))
    return out[0::2], out[1::2]


def test_loss_equals_direct_computation():
    q, k, bank = _unit(3, 8, seed=0), _unit(3, 8, seed=1), _unit(10, 8, seed=2)
    bank_cat = torch.tensor([0, 1, 1, 0, -1, 1, 0, 0, 1, -1])
    cat = torch.tensor([0, 1, 0])
    tau, topk = 0.07, 3
    loss, num_neg = hard_negative_info_nce(q, k, bank, bank_cat, cat, topk, tau)
    expect, counts = _direct_info_nce(q, k, bank, bank_cat, cat, topk, tau)
    for i in range(3):
        assert float(loss[i]) == pytest.approx(expect[i], rel=1e-4, abs=1e-5)
        assert int(num_neg[i]) == counts[i]


def test_invalid_negatives_never_enter_the_loss():
    q, k = _unit(2, 4, seed=3), _unit(2, 4, seed=4)
    cat = torch.tensor([0, 1])
    valid = _unit(3, 4, seed=5)
    for i in range(2):
        # same-category and empty entries equal to the anchor (the most similar possible)
        valid_cat = torch.tensor([1 - i, 1 - i, i])
        n_valid = int((valid_cat != i).sum())
        bank = torch.cat([valid, q[i:i + 1].repeat(3, 1)])
        bank_cat = torch.cat([valid_cat, torch.tensor([i, -1, i])])
        qi = q[i:i + 1].clone().requires_grad_(True)
        loss, num_neg = hard_negative_info_nce(qi, k[i:i + 1], bank, bank_cat, cat[i:i + 1],
                                               topk=5, temperature=0.1)
        ref, _ = hard_negative_info_nce(qi, k[i:i + 1], valid[valid_cat != i],
                                        valid_cat[valid_cat != i], cat[i:i + 1], 5, 0.1)
        torch.testing.assert_close(loss, ref)
        assert int(num_neg) == n_valid  # fewer valid than k: no padding, no -1e9
        loss.sum().backward()
        assert torch.isfinite(qi.grad).all()
    # an anchor without any valid negative gets exactly -log(1) = 0
    loss0, n0 = hard_negative_info_nce(q[:1], k[:1], q[:1], cat[:1], cat[:1], 4, 0.1)
    assert float(loss0) == 0.0 and int(n0) == 0


def _batch(b=4, p=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    views = torch.randint(0, 256, (b, 3, 3, p, p), dtype=torch.uint8, generator=g)
    return dict(views=views, num_pos=torch.tensor([2, 1, 0, 2])[:b],
                category=torch.tensor([0, 1, 0, 1])[:b], gen_label=torch.tensor([0, 1, 0, 2])[:b],
                neg=torch.randint(0, 256, (b, 3, p, p), dtype=torch.uint8, generator=g),
                neg_category=torch.ones(b, dtype=torch.long),
                neg_gen_label=torch.ones(b, dtype=torch.long), neg_valid=torch.ones(b, dtype=torch.long))


def _model(**kw):
    cfg = dict(backbone=dict(type='DnCNN', depth=3, width=8, out_channels=8), patch_size=8,
               queue_size=16,
               topk=4, momentum=0.9)
    cfg.update(kw)
    return DiffusionPrintPretrainer(**cfg)


def test_ema_math_and_queue_fill():
    torch.manual_seed(0)
    model = _model()
    losses = loss_of(model, _batch())  # first step: momentum net = copy of online
    for name, p in model.online.named_parameters():
        torch.testing.assert_close(dict(model.momentum_encoder.module.named_parameters())[name], p)
    # the 4 pool patches are enqueued, not the positive keys (enqueue_positives off)
    assert model.queue.ptr == 4 and (model.queue.category >= 0).sum() == 4
    assert model.queue.category[:4].tolist() == [1, 1, 1, 1]
    assert set(losses) >= {'loss_nce', 'pos_sim', 'num_neg'}
    before = {n: p.detach().clone() for n, p in model.momentum_encoder.module.named_parameters()}
    with torch.no_grad():
        for p in model.online.parameters():
            p.add_(torch.randn_like(p))
    online = {n: p.detach().clone() for n, p in model.online.named_parameters()}
    loss_of(model, _batch(seed=1))
    for n, p in model.momentum_encoder.module.named_parameters():
        torch.testing.assert_close(p, 0.9 * before[n] + 0.1 * online[n])
    assert model.queue.ptr == 8
    both = _model(enqueue_positives=True)
    loss_of(both, _batch())  # + the positive keys (no positive: an empty slot)
    assert both.queue.ptr == 8 and both.queue.category[:4].tolist() == [0, 1, -1, 1]


def test_model_loss_is_the_mean_over_anchors_with_a_positive():
    # the model's loss_nce on a batch with one positive-less anchor equals Eq. 1 computed
    # by hand for the other anchors (online q, momentum k, the queue before this step)
    torch.manual_seed(0)
    # tau 1: a loss of order 1
    model = _model(data_preprocessor=dict(flip=False), topk=3, temperature=1.0)
    model.queue.enqueue(_unit(10, 128, seed=7), torch.tensor([0, 1] * 5), torch.zeros(10))
    bank, bank_cat = model.queue.feats.clone(), model.queue.category.clone()
    batch = _batch()
    batch['num_pos'] = torch.tensor([1, 1, 0, 1])  # one positive each: view 1
    losses = loss_of(model, batch)
    with torch.no_grad():  # first step: the momentum encoder is a copy of the online one;
        # positives and pool patches go through it in one (train-mode BatchNorm) forward
        q = F.normalize(model.online(batch['views'][:, 0].float() / 255), dim=1)
        keys = torch.cat([batch['views'][:, 1], batch['neg']]).float() / 255
        k = F.normalize(model.online(keys), dim=1)[:4]
    keep = [0, 1, 3]
    expect, _ = _direct_info_nce(q[keep], k[keep], bank, bank_cat, batch['category'][keep],
                                 3, model.temperature)
    assert float(losses['loss_nce']) == pytest.approx(sum(expect) / 3, rel=1e-4)


def test_queue_wraps_and_round_trips_state():
    q = FeatureQueue(5, 2)
    q.enqueue(torch.ones(4, 2), torch.zeros(4), torch.zeros(4))
    q.enqueue(2 * torch.ones(3, 2), torch.ones(3), torch.full((3, ), 2))
    assert q.ptr == 2 and q.category.tolist() == [1, 1, 0, 0, 1]
    r = FeatureQueue(5, 2)
    r.load_state_dict(q.state_dict())
    assert r.ptr == 2 and torch.equal(r.feats, q.feats) and torch.equal(r.label, q.label)


def test_classification_head_and_variants():
    torch.manual_seed(0)
    model = _model(num_classes=4, cls_weight=0.5)
    losses = loss_of(model, _batch())
    assert losses['loss_cls'] > 0
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert model.cls_head.weight.grad is not None
    flat = _model(backbone=dict(type='DnCNN', depth=3, width=8, out_channels=1),
                  projector='flatten', data_preprocessor=dict(flip=False))
    assert flat.online.projector[-1].in_features == 64
    moco = _model(data_preprocessor=dict(pairing='moco_aug', input_highpass=0.1))
    out = loss_of(moco, _batch())
    assert torch.isfinite(out['loss_nce'])
    feats = moco(**moco.data_preprocessor(_batch()), mode='tensor')
    assert feats.shape == (4, 8, 8, 8)
    with pytest.raises(ValueError, match='pairing'):
        _model(data_preprocessor=dict(pairing='simclr'))
    with pytest.raises(ValueError, match='moco_aug'):  # would silently ignore the JPEG
        _model(data_preprocessor=dict(pairing='moco_aug', jpeg=dict(quality=(70, 95), prob=0.5)))


def test_random_jpeg_compresses_with_the_drawn_probability():
    from dp_plugin.pretrain.augment import random_jpeg
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8, generator=g)
    assert torch.equal(random_jpeg(x, prob=0.0), x)
    y = random_jpeg(x, quality=(70, 70), prob=1.0)
    assert y.shape == x.shape and y.dtype == torch.uint8
    err = (y.float() - x.float()).abs().mean(dim=(1, 2, 3))
    assert (err > 5).all()  # QF 70 on noise: every sample visibly changed
    with pytest.raises(TypeError, match='uint8'):
        random_jpeg(x.float())
    # the Table 3 JPEG ablation runs through the patch-pairing path
    out = loss_of(_model(data_preprocessor=dict(jpeg=dict(quality=(70, 95), prob=1.0))),
                  _batch())
    assert torch.isfinite(out['loss_nce'])
