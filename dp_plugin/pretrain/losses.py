"""Cross-category top-k hard-negative InfoNCE (paper Eq. 1) and the authors' in-batch
negatives."""
from typing import Optional, Tuple

import torch


def in_batch_logits(q: torch.Tensor, k: torch.Tensor, category: torch.Tensor,
                    has_pos: torch.Tensor, temperature: float) -> torch.Tensor:
    """The authors' in-batch negatives: ``(B, B)`` logits ``q_i . k_j / tau``.

    Masked to ``-inf``: the self pair ``j = i`` (anchor i's own positive), pairs of a
    real anchor with a real key, and keys of anchors without a positive. Everything
    else stays, so a generated anchor also meets the other generated anchors' keys.
    """
    logits = q @ k.t() / temperature
    real = category == 0
    eye = torch.eye(q.shape[0], dtype=torch.bool, device=q.device)
    masked = eye | (real[:, None] & real[None, :]) | ~has_pos[None, :]
    return logits.masked_fill(masked, float('-inf'))


def hard_negative_info_nce(q: torch.Tensor, k: torch.Tensor, bank: torch.Tensor,
                           bank_category: torch.Tensor, category: torch.Tensor, topk: int,
                           temperature: float,
                           extra_logits: Optional[torch.Tensor] = None
                           ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-anchor InfoNCE with the ``topk`` most similar opposite-category negatives.

    Args:
        q: ``(B, D)`` L2-normalised anchor embeddings (online encoder).
        k: ``(B, D)`` L2-normalised positive embeddings (momentum encoder).
        bank: ``(Q, D)`` L2-normalised candidate negatives (the queue).
        bank_category: ``(Q,)`` category of each candidate; -1 = empty slot.
        category: ``(B,)`` anchor categories.
        topk: negatives kept per anchor (fewer when fewer are valid).
        temperature: tau.
        extra_logits: ``(B, M)`` further negative logits (already divided by tau,
            ``-inf`` = masked) beside the top-k, e.g. :func:`in_batch_logits`.

    Returns:
        ``(loss, num_neg)``: ``(B,)`` losses and the number of valid negatives used.
        Invalid candidates (same category, empty) are masked to ``-inf`` in the logits
        after selection, so they contribute exactly zero whatever ``topk`` picked.
    """
    pos = (q * k).sum(dim=1) / temperature
    parts = [pos[:, None]]
    num_neg = torch.zeros_like(pos, dtype=torch.long)
    if bank.shape[0] and topk > 0:
        sims = q @ bank.t() / temperature  # (B, Q)
        valid = (bank_category[None, :] >= 0) & (bank_category[None, :] != category[:, None])
        kk = min(int(topk), bank.shape[0])
        with torch.no_grad():
            ranked = sims.detach().masked_fill(~valid, float('-inf'))
            idx = ranked.topk(kk, dim=1).indices
        chosen_valid = valid.gather(1, idx)
        parts.append(sims.gather(1, idx).masked_fill(~chosen_valid, float('-inf')))
        num_neg = num_neg + chosen_valid.sum(dim=1)
    if extra_logits is not None:
        parts.append(extra_logits)
        num_neg = num_neg + torch.isfinite(extra_logits).sum(dim=1)
    loss = torch.logsumexp(torch.cat(parts, dim=1), dim=1) - pos
    return loss, num_neg
