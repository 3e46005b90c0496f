"""InfoNCE with cross-category top-k negatives; masking; EMA math; queue."""
import math

import pytest
import torch
import torch.nn.functional as F

from dp_plugin.pretrain.diffusion_print_pretrainer import DiffusionPrintPretrainer
from dp_plugin.pretrain.feature_queue import FeatureQueue
from dp_plugin.pretrain.losses import hard_negative_info_nce


def _unit(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g), dim=-1)


def test_loss_equals_direct_computation():
    q, k, bank = _unit(3, 8, seed=0), _unit(3, 8, seed=1), _unit(10, 8, seed=2)
    bank_cat = torch.tensor([0, 1, 1, 0, -1, 1, 0, 0, 1, -1])
    cat = torch.tensor([0, 1, 0])
    tau, topk = 0.07, 3
    loss, num_neg = hard_negative_info_nce(q, k, bank, bank_cat, cat, topk, tau)
    for i in range(3):
        cands = [j for j in range(10) if bank_cat[j] >= 0 and bank_cat[j] != cat[i]]
        sims = sorted((float(q[i] @ bank[j]) for j in cands), reverse=True)[:topk]
        pos = float(q[i] @ k[i])
        expect = -math.log(math.exp(pos / tau) /
                           (math.exp(pos / tau) + sum(math.exp(s / tau) for s in sims)))
        assert float(loss[i]) == pytest.approx(expect, rel=1e-4, abs=1e-5)
        assert int(num_neg[i]) == len(sims)


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
    cfg = dict(backbone=dict(depth=3, width=8, out_channels=8), patch_size=8, queue_size=16,
               topk=4, momentum=0.9)
    cfg.update(kw)
    return DiffusionPrintPretrainer(**cfg)


def test_ema_math_and_queue_fill():
    torch.manual_seed(0)
    model = _model()
    losses = model(**_batch(), mode='loss')  # first step: momentum net = copy of online
    for name, p in model.online.named_parameters():
        torch.testing.assert_close(dict(model.momentum_encoder.module.named_parameters())[name], p)
    # 3 anchors with a positive + 4 pool patches enqueued
    assert model.queue.ptr == 7 and (model.queue.category >= 0).sum() == 7
    assert model.queue.category[:3].tolist() == [0, 1, 1]
    assert set(losses) >= {'loss_nce', 'pos_sim', 'num_neg'}
    before = {n: p.detach().clone() for n, p in model.momentum_encoder.module.named_parameters()}
    with torch.no_grad():
        for p in model.online.parameters():
            p.add_(torch.randn_like(p))
    online = {n: p.detach().clone() for n, p in model.online.named_parameters()}
    model(**_batch(seed=1), mode='loss')
    for n, p in model.momentum_encoder.module.named_parameters():
        torch.testing.assert_close(p, 0.9 * before[n] + 0.1 * online[n])
    assert model.queue.ptr == 14


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
    losses = model(**_batch(), mode='loss')
    assert losses['loss_cls'] > 0
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert model.cls_head.weight.grad is not None
    flat = _model(backbone=dict(depth=3, width=8, out_channels=1), projector='flatten',
                  flip=False)
    assert flat.online.projector[-1].in_features == 64
    moco = _model(pairing='moco_aug', jpeg=dict(quality=(70, 95), prob=1.0),
                  input_highpass=0.1)
    out = moco(**_batch(), mode='loss')
    assert torch.isfinite(out['loss_nce'])
    feats = moco(_batch()['views'], mode='tensor')
    assert feats.shape == (4, 8, 8, 8)
    with pytest.raises(ValueError, match='pairing'):
        _model(pairing='simclr')
