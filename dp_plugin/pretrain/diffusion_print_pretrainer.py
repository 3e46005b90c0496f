"""MoCo-style DiffusionPrint pretraining model (paper §3.3-3.6)."""
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel, ExponentialMovingAverage

from dp_plugin.modalities.dncnn import DnCNN
from dp_plugin.modalities.high_pass import FFTHighPass
from dp_plugin.registry import MODELS
from .augment import moco_view, random_flips, random_jpeg
from .feature_queue import FeatureQueue, gather_rows
from .losses import hard_negative_info_nce


class EmbeddingNet(nn.Module):
    """DnCNN encoder + projector: GAP and a 2-layer MLP, or flatten + linear (C = 1)."""

    def __init__(self, encoder: DnCNN, projector: str, hidden: int, dim: int,
                 patch_size: int) -> None:
        super().__init__()
        self.encoder = encoder
        c = encoder.out_channels
        if projector == 'mlp':
            self.projector = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                           nn.Linear(c, hidden), nn.ReLU(inplace=True),
                                           nn.Linear(hidden, dim))
        elif projector == 'flatten':
            self.projector = nn.Sequential(nn.Flatten(),
                                           nn.Linear(c * patch_size * patch_size, dim))
        else:
            raise ValueError(f"projector must be 'mlp' or 'flatten', got {projector!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder(x))


@MODELS.register_module()
class DiffusionPrintPretrainer(BaseModel):
    """Contrastive pretraining of the DiffusionPrint DnCNN.

    Anchors are encoded by the online encoder, their positives (another view of the
    same patch position, see :class:`PatchPairDataset`) and all queue entries by the
    momentum encoder ``theta_bar <- m theta_bar + (1 - m) theta`` (mmengine's
    :class:`ExponentialMovingAverage`, updated at the start of each training forward,
    i.e. after the previous optimizer step). Each anchor's negatives are the ``topk``
    most cosine-similar entries of the *opposite* category in the queue; empty or
    same-category entries are masked out of the logits. Loss: InfoNCE (mean over
    anchors with a positive) + ``cls_weight`` x cross-entropy of an optional linear
    head on the projected embedding (2 classes real/generated or ``1 + #generators``).
    The queue is filled with the batch's positive keys and one pool patch per anchor,
    gathered over all ranks before enqueueing.

    Args:
        backbone (dict): DnCNN kwargs (``depth``, ``width``, ``out_channels``).
        projector (str): ``'mlp'`` (GAP + MLP) or ``'flatten'`` (the C = 1 variant).
        proj_hidden (int): MLP hidden width (paper 128, authors' code 512).
        embed_dim (int): Embedding size. Defaults to 128.
        patch_size (int): Patch size (needed by the flatten projector).
        momentum (float): m of the momentum encoder. Defaults to 0.999.
        queue_size (int): Queue length. Defaults to 65536.
        topk (int): Hard negatives per anchor. Defaults to 512.
        temperature (float): tau. Defaults to 0.07.
        num_classes (int): Classes of the classification head: 2 is real/generated,
            ``1 + #generators`` the generator-aware head.
        cls_weight (float): lambda of the classification loss; 0 (default) means no head.
        pairing (str): ``'patch'`` (the paper's spatial pairs) or ``'moco_aug'`` (the
            augmentation-only MoCo baseline: the positive is an augmented copy).
        flip (bool): Random horizontal/vertical flips of every view.
        jpeg (dict, optional): ``dict(quality=(70, 95), prob=0.5)`` to JPEG-compress views.
        input_highpass (float, optional): FFT high-pass cut-off applied to every input.
        enqueue_pool (bool): Enqueue the pool patches. Defaults to True.
        in_batch_negatives (bool): Also use the current batch's keys as negative
            candidates (the authors' code); off in the paper.
    """

    def __init__(self, backbone: Optional[dict] = None, projector: str = 'mlp',
                 proj_hidden: int = 128, embed_dim: int = 128, patch_size: int = 64,
                 momentum: float = 0.999, queue_size: int = 65536, topk: int = 512,
                 temperature: float = 0.07, num_classes: int = 0, cls_weight: float = 0.0,
                 pairing: str = 'patch', flip: bool = True, jpeg: Optional[dict] = None,
                 input_highpass: Optional[float] = None, enqueue_pool: bool = True,
                 in_batch_negatives: bool = False,
                 data_preprocessor: Optional[dict] = None, init_cfg=None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        backbone = dict(dict(in_channels=3, out_channels=64, depth=17, width=64),
                        **(backbone or {}))
        if pairing not in ('patch', 'moco_aug'):
            raise ValueError(f"pairing must be 'patch' or 'moco_aug', got {pairing!r}")
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f'momentum must be in [0, 1), got {momentum}')
        self.backbone_cfg = backbone
        self.online = EmbeddingNet(DnCNN(**backbone), projector, proj_hidden, embed_dim,
                                   patch_size)
        self.momentum_encoder = ExponentialMovingAverage(self.online, momentum=1.0 - momentum,
                                                     update_buffers=False)
        self.queue = FeatureQueue(queue_size, embed_dim)
        # identical on every rank by construction: keep DDP from broadcasting them
        self._ddp_params_and_buffers_to_ignore = [f'queue.{b}' for b in FeatureQueue.BUFFERS]
        if cls_weight > 0 and num_classes < 2:
            raise ValueError('cls_weight > 0 needs num_classes >= 2')
        # no head without a loss: DDP rejects parameters that never get a gradient
        self.cls_head = nn.Linear(embed_dim, num_classes) if cls_weight > 0 else None
        self.num_classes = num_classes
        self.cls_weight = float(cls_weight)
        self.topk = int(topk)
        self.temperature = float(temperature)
        self.pairing = pairing
        self.flip = flip
        self.jpeg = jpeg
        self.input_highpass = input_highpass
        self.high_pass = FFTHighPass(input_highpass) if input_highpass else None
        self.enqueue_pool = enqueue_pool
        self.in_batch_negatives = in_batch_negatives

    # ------------------------------------------------------------------ inputs
    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, 3, P, P)`` -> encoder input: JPEG, /255, flips, high-pass."""
        if self.jpeg is not None and self.training:
            x = random_jpeg(x, **self.jpeg)
        x = x.float() / 255.0
        if self.flip and self.training:
            x = random_flips(x)
        if self.high_pass is not None:
            x = self.high_pass(x)
        return x

    def _views(self, views: torch.Tensor,
               num_pos: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Anchor input, positive input and the has-positive mask of a batch."""
        anchor = views[:, 0]
        if self.pairing == 'moco_aug':
            base = anchor.float() / 255.0
            a, p = moco_view(base), moco_view(base)
            if self.high_pass is not None:
                a, p = self.high_pass(a), self.high_pass(p)
            return a, p, torch.ones_like(num_pos, dtype=torch.bool)
        has_pos = num_pos > 0
        pick = 1 + (torch.rand(num_pos.shape[0]).to(num_pos.device)
                    * num_pos.clamp(min=1)).long().clamp(max=views.shape[1] - 1)
        positive = views[torch.arange(views.shape[0], device=views.device), pick]
        return self.prepare(anchor), self.prepare(positive), has_pos

    # ------------------------------------------------------------------ forward
    def forward(self, views: torch.Tensor, num_pos: Optional[torch.Tensor] = None,
                category: Optional[torch.Tensor] = None,
                gen_label: Optional[torch.Tensor] = None,
                neg: Optional[torch.Tensor] = None,
                neg_category: Optional[torch.Tensor] = None,
                neg_gen_label: Optional[torch.Tensor] = None,
                neg_valid: Optional[torch.Tensor] = None,
                mode: str = 'tensor') -> Union[Dict[str, torch.Tensor], torch.Tensor,
                                               List[torch.Tensor]]:
        """``'loss'``: one training step's losses; ``'tensor'``: DnCNN feature maps of
        the anchors; ``'predict'``: their normalised embeddings."""
        if mode == 'loss':
            return self.loss(views, num_pos, category, gen_label, neg, neg_category,
                             neg_gen_label, neg_valid)
        x = views[:, 0] if views.dim() == 5 else views
        x = self.prepare(x) if x.dtype == torch.uint8 else x
        if mode == 'tensor':
            return self.online.encoder(x)
        if mode == 'predict':
            return list(F.normalize(self.online(x), dim=1))
        raise ValueError(f'unknown mode {mode!r}')

    def loss(self, views, num_pos, category, gen_label, neg, neg_category, neg_gen_label,
             neg_valid) -> Dict[str, torch.Tensor]:
        with torch.no_grad():
            self.momentum_encoder.update_parameters(self.online)
        anchor, positive, has_pos = self._views(views, num_pos)
        proj = self.online(anchor)
        q = F.normalize(proj, dim=1)
        with torch.no_grad():
            k = F.normalize(self.momentum_encoder.module(positive), dim=1)
            kn = None
            if self.enqueue_pool and neg is not None and bool(neg_valid.any()):
                keep = neg_valid.bool()
                kn = F.normalize(self.momentum_encoder.module(self.prepare(neg[keep])), dim=1)
        # a snapshot: the enqueue below writes into the queue before backward
        bank, bank_cat = self.queue.feats.clone(), self.queue.category.clone()
        if self.in_batch_negatives:
            batch_k = gather_rows(k[has_pos])
            batch_cat = gather_rows(category[has_pos])
            bank = torch.cat([bank, batch_k])
            bank_cat = torch.cat([bank_cat, batch_cat])
        per_anchor, num_neg = hard_negative_info_nce(q, k, bank, bank_cat, category,
                                                     self.topk, self.temperature)
        if bool(has_pos.any()):
            loss_nce = per_anchor[has_pos].mean()
        else:
            loss_nce = proj.sum() * 0.0
        losses = dict(loss_nce=loss_nce)
        if self.cls_head is not None:
            target = category if self.num_classes == 2 else gen_label
            losses['loss_cls'] = self.cls_weight * F.cross_entropy(self.cls_head(proj),
                                                                   target)
        with torch.no_grad():
            losses['pos_sim'] = (q * k).sum(1)[has_pos].mean() if bool(has_pos.any()) \
                else q.new_zeros(())
            losses['num_neg'] = num_neg.float().mean()
            self.queue.enqueue(k[has_pos], category[has_pos], gen_label[has_pos])
            if kn is not None:
                keep = neg_valid.bool()
                self.queue.enqueue(kn, neg_category[keep], neg_gen_label[keep])
            elif self.enqueue_pool and neg_valid is not None:
                self.queue.enqueue(k.new_zeros(0, k.shape[1]), category[:0], category[:0])
        return losses

    def encoder_state_dict(self) -> Dict[str, torch.Tensor]:
        """The online DnCNN's state_dict with the plain ``0.weight ...`` keys."""
        return self.online.encoder.state_dict()
