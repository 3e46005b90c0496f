"""The authors' options: in-batch negatives, projector BatchNorm, head on the normalised
embedding, one flip draw per batch.

Their loss (builders/diffusionprint.py): logits ``[l_pos, l_batch, l_hard]`` with
``l_batch = q k^T / tau`` (B columns: every positive key of the batch), the diagonal
(self pair) and real-anchor/real-key entries masked, ``l_hard`` the top-k of the
cross-category queue; cross-entropy with label 0, mean over the batch.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from dp_plugin.pretrain.augment import random_flips
from dp_plugin.pretrain.diffusion_print_pretrainer import DiffusionPrintPretrainer
from dp_plugin.pretrain.losses import hard_negative_info_nce, in_batch_logits
from pretrain_synth import loss_of, one_thread  # noqa: F401 (autouse)
from _helpers import unit_vectors as _unit


def _theirs(q, k, bank, bank_cat, cat, topk, tau):
    """Their per-anchor loss written out: self and real-real in-batch pairs dropped."""
    out = []
    for i in range(q.shape[0]):
        terms = [float(q[i] @ k[i]) / tau]
        for j in range(q.shape[0]):
            if j != i and not (cat[i] == 0 and cat[j] == 0):
                terms.append(float(q[i] @ k[j]) / tau)
        cands = sorted((float(q[i] @ bank[j]) for j in range(bank.shape[0])
                        if bank_cat[j] >= 0 and bank_cat[j] != cat[i]), reverse=True)
        terms += [s / tau for s in cands[:topk]]
        m = max(terms)
        out.append(m + math.log(sum(math.exp(t - m) for t in terms)) - terms[0])
    return out


def test_in_batch_logits_mask_only_self_and_real_real():
    q, k = _unit(4, 8, seed=0), _unit(4, 8, seed=1)
    cat = torch.tensor([0, 0, 1, 1])
    logits = in_batch_logits(q, k, cat, torch.ones(4, dtype=torch.bool), 0.5)
    finite = torch.isfinite(logits)
    assert finite.tolist() == [[False, False, True, True],   # real anchor: real keys masked
                               [False, False, True, True],
                               [True, True, False, True],    # generated: only self masked
                               [True, True, True, False]]
    torch.testing.assert_close(logits[finite], (q @ k.t() / 0.5)[finite])
    no_pos = in_batch_logits(q, k, cat, torch.tensor([True, True, True, False]), 0.5)
    assert not torch.isfinite(no_pos[:, 3]).any()  # a key without a positive is no negative


def test_in_batch_negatives_are_beside_the_topk_not_in_its_bank():
    q, k, bank = _unit(4, 8, seed=2), _unit(4, 8, seed=3), _unit(12, 8, seed=4)
    bank_cat = torch.tensor([0, 1] * 6)
    cat = torch.tensor([0, 1, 0, 1])
    tau, topk = 0.1, 3
    extra = in_batch_logits(q, k, cat, torch.ones(4, dtype=torch.bool), tau)
    loss, num_neg = hard_negative_info_nce(q, k, bank, bank_cat, cat, topk, tau, extra)
    for got, want in zip(loss.tolist(), _theirs(q, k, bank, bank_cat, cat, topk, tau)):
        assert got == pytest.approx(want, rel=1e-5)
    # k from the queue + in-batch: real anchors 3 + 2 generated keys, generated 3 + 3
    assert num_neg.tolist() == [5, 6, 5, 6]


def _batch(b=4, p=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return dict(views=torch.randint(0, 256, (b, 2, 3, p, p), dtype=torch.uint8, generator=g),
                num_pos=torch.ones(b, dtype=torch.long), category=torch.tensor([0, 1, 0, 1]),
                gen_label=torch.tensor([0, 1, 0, 2]),
                neg=torch.randint(0, 256, (b, 3, p, p), dtype=torch.uint8, generator=g),
                neg_category=torch.tensor([0, 1, 1, 0]), neg_gen_label=torch.tensor([0, 1, 2, 0]),
                neg_valid=torch.ones(b, dtype=torch.long))


def test_model_loss_with_their_options_equals_their_formula():
    torch.manual_seed(0)
    model = DiffusionPrintPretrainer(
        backbone=dict(type='DnCNN', depth=3, width=8, out_channels=8), patch_size=8,
        queue_size=16, topk=3, temperature=0.5, data_preprocessor=dict(flip=False),
        in_batch_negatives=True, projector_bn=True,
        proj_hidden=16, num_classes=3, cls_weight=1.0, head_input='normalized',
        neg_batch_size=2)
    model.queue.enqueue(_unit(10, 128, seed=7), torch.tensor([0, 1] * 5), torch.zeros(10),
                        gather=False)
    bank, bank_cat = model.queue.feats.clone(), model.queue.category.clone()
    batch = _batch()
    losses = loss_of(model, batch)
    with torch.no_grad():  # step 1: the momentum net is the online one; one forward for
        proj = model.online(batch['views'][:, 0].float() / 255)  # positives + 2 pool
        q = F.normalize(proj, dim=1)
        keys = torch.cat([batch['views'][:, 1], batch['neg'][:2]]).float() / 255
        k = F.normalize(model.online(keys), dim=1)[:4]
    want = _theirs(q, k, bank, bank_cat, batch['category'], 3, 0.5)
    assert float(losses['loss_nce']) == pytest.approx(sum(want) / 4, rel=1e-4)
    cls = F.cross_entropy(model.cls_head(q), batch['gen_label'])  # head on normalised q
    assert float(losses['loss_cls']) == pytest.approx(float(cls), rel=1e-4)
    # neg_batch_size 2: the first two pool keys entered the queue
    assert int(model.queue.ptr) == 12 and model.queue.category[10:12].tolist() == [0, 1]
    assert [type(m).__name__ for m in model.online.projector][2:] == [
        'Linear', 'BatchNorm1d', 'ReLU', 'Linear', 'BatchNorm1d']


def test_one_flip_draw_per_batch():
    x = torch.arange(2 * 1 * 2 * 2, dtype=torch.float32).reshape(2, 1, 2, 2)
    x = x.repeat(64, 1, 1, 1)
    torch.manual_seed(0)
    per_batch = [random_flips(x, per_batch=True) for _ in range(8)]
    for y in per_batch:  # every sample got the same flips
        same = [torch.equal(y[i], y[0]) for i in range(0, 128, 2)]
        assert all(same)
    assert len({tuple(y[0].flatten().tolist()) for y in per_batch}) > 1  # but random
    y = random_flips(x)
    assert len({tuple(y[i].flatten().tolist()) for i in range(0, 128, 2)}) > 1  # per sample
