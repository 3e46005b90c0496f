"""CMX feature fusion module (FFM)."""
from typing import Tuple

import torch
import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule

from dp_plugin.registry import MODELS


class _CrossAttention(nn.Module):
    """Efficient cross attention: each stream's queries read the other's C x C context.

    The context of a stream is ``softmax_over_keys(K^T V * scale)`` per head, so the cost
    is linear in the number of tokens.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'dim ({dim}) must be divisible by num_heads ({num_heads})')
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.kv1 = nn.Linear(dim, 2 * dim, bias=False)
        self.kv2 = nn.Linear(dim, 2 * dim, bias=False)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.view(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def _context(self, kv: torch.Tensor) -> torch.Tensor:
        k, v = kv.chunk(2, dim=-1)
        ctx = self._heads(k).transpose(-2, -1) @ self._heads(v) * self.scale  # (B, h, d, d)
        return ctx.softmax(dim=-2)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        b, n, c = x1.shape
        ctx1, ctx2 = self._context(self.kv1(x1)), self._context(self.kv2(x2))
        out1 = (self._heads(x1) @ ctx2).transpose(1, 2).reshape(b, n, c)
        out2 = (self._heads(x2) @ ctx1).transpose(1, 2).reshape(b, n, c)
        return out1, out2


class _CrossPath(nn.Module):
    """Per-stream projection split into a self half and a cross-attended half."""

    def __init__(self, dim: int, reduction: int, num_heads: int) -> None:
        super().__init__()
        hidden = dim // reduction
        self.channel_proj1 = nn.Linear(dim, 2 * hidden)
        self.channel_proj2 = nn.Linear(dim, 2 * hidden)
        self.act = nn.ReLU(inplace=True)
        self.cross_attn = _CrossAttention(hidden, num_heads)
        self.end_proj1 = nn.Linear(2 * hidden, dim)
        self.end_proj2 = nn.Linear(2 * hidden, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        y1, u1 = self.act(self.channel_proj1(x1)).chunk(2, dim=-1)
        y2, u2 = self.act(self.channel_proj2(x2)).chunk(2, dim=-1)
        v1, v2 = self.cross_attn(u1, u2)
        out1 = self.norm1(x1 + self.end_proj1(torch.cat((y1, v1), dim=-1)))
        out2 = self.norm2(x2 + self.end_proj2(torch.cat((y2, v2), dim=-1)))
        return out1, out2


class _ChannelEmbed(nn.Module):
    """Merge the concatenated streams (2C) to C channels with a residual 1x1 conv."""

    def __init__(self, in_channels: int, out_channels: int, reduction: int,
                 norm_cfg: dict) -> None:
        super().__init__()
        hidden = out_channels // reduction
        self.residual = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.channel_embed = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 1),
            nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, out_channels, 1),
            build_norm_layer(norm_cfg, out_channels)[1])
        self.norm = build_norm_layer(norm_cfg, out_channels)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.residual(x) + self.channel_embed(x))


@MODELS.register_module()
class FeatureFusionModule(BaseModule):
    """Cross-modal feature fusion of CMX: cross-attention path + channel embedding.

    Both ``(B, C, H, W)`` streams are flattened to tokens, exchanged through an efficient
    cross attention (``cross``), concatenated and merged back to C channels
    (``channel_emb``). Parameter names follow the CMX / TruFor checkpoints
    (``cross.{channel_proj1,cross_attn.kv1,end_proj1,norm1,...}``,
    ``channel_emb.{residual,channel_embed.{0,1,3,4},norm}``).

    Args:
        dim (int): Channels of each stream and of the output.
        reduction (int): Width reduction inside the module. Defaults to 1.
        num_heads (int): Heads of the cross attention. Defaults to 1.
        norm_cfg (dict): Norm of the channel embedding. Defaults to BN.
    """

    def __init__(self, dim: int, reduction: int = 1, num_heads: int = 1,
                 norm_cfg: dict = dict(type='BN'), init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        if dim % reduction:
            raise ValueError(f'dim ({dim}) must be divisible by reduction ({reduction})')
        self.cross = _CrossPath(dim, reduction, num_heads)
        self.channel_emb = _ChannelEmbed(2 * dim, dim, reduction, norm_cfg)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        """Fuse two ``(B, C, H, W)`` maps into one ``(B, C, H, W)`` map."""
        if x1.shape != x2.shape:
            raise ValueError(f'both streams must have the same shape, got {tuple(x1.shape)} '
                             f'and {tuple(x2.shape)}')
        b, c, h, w = x1.shape
        t1, t2 = self.cross(x1.flatten(2).transpose(1, 2), x2.flatten(2).transpose(1, 2))
        merged = torch.cat((t1, t2), dim=-1).transpose(1, 2).reshape(b, 2 * c, h, w)
        return self.channel_emb(merged)
