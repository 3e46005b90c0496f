"""Cross-category top-k hard-negative InfoNCE (paper Eq. 1)."""
from typing import Tuple

import torch


def hard_negative_info_nce(q: torch.Tensor, k: torch.Tensor, bank: torch.Tensor,
                           bank_category: torch.Tensor, category: torch.Tensor, topk: int,
                           temperature: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-anchor InfoNCE with the ``topk`` most similar opposite-category negatives.

    Args:
        q: ``(B, D)`` L2-normalised anchor embeddings (online encoder).
        k: ``(B, D)`` L2-normalised positive embeddings (momentum encoder).
        bank: ``(Q, D)`` L2-normalised candidate negatives (queue, optionally batch keys).
        bank_category: ``(Q,)`` category of each candidate; -1 = empty slot.
        category: ``(B,)`` anchor categories.
        topk: negatives kept per anchor (fewer when fewer are valid).
        temperature: tau.

    Returns:
        ``(loss, num_neg)``: ``(B,)`` losses and the number of valid negatives used.
        Invalid candidates (same category, empty) are masked to ``-inf`` in the logits
        after selection, so they contribute exactly zero whatever ``topk`` picked.
    """
    pos = (q * k).sum(dim=1) / temperature
    if bank.shape[0] == 0 or topk <= 0:
        return torch.zeros_like(pos), torch.zeros_like(pos, dtype=torch.long)
    sims = q @ bank.t() / temperature  # (B, Q)
    valid = (bank_category[None, :] >= 0) & (bank_category[None, :] != category[:, None])
    kk = min(int(topk), bank.shape[0])
    with torch.no_grad():
        ranked = sims.detach().masked_fill(~valid, float('-inf'))
        idx = ranked.topk(kk, dim=1).indices
    chosen_valid = valid.gather(1, idx)
    neg = sims.gather(1, idx).masked_fill(~chosen_valid, float('-inf'))
    logits = torch.cat([pos[:, None], neg], dim=1)
    loss = torch.logsumexp(logits, dim=1) - pos
    return loss, chosen_valid.sum(dim=1)
