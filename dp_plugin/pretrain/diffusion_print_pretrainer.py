"""MoCo-style DiffusionPrint pretraining model (paper §3.3-3.6)."""
from typing import Dict, Iterable, List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel, ExponentialMovingAverage

from dp_plugin.modalities.dncnn import DnCNN
from dp_plugin.modalities.high_pass import build_high_pass
from dp_plugin.registry import MODELS
from .augment import moco_view, random_flips, random_jpeg
from .feature_queue import FeatureQueue
from .losses import hard_negative_info_nce, in_batch_logits

HEAD_INPUTS = ('projection', 'normalized')


class EmbeddingNet(nn.Module):
    """DnCNN encoder + projector: GAP and a 2-layer MLP, or flatten + linear (C = 1).

    ``projector_bn`` puts a BatchNorm1d after both linears of the MLP (the authors'
    projector); the paper describes a plain two-layer MLP.
    """

    def __init__(self, encoder: DnCNN, projector: str, hidden: int, dim: int,
                 patch_size: int, projector_bn: bool = False) -> None:
        super().__init__()
        self.encoder = encoder
        c = encoder.out_channels
        if projector == 'mlp':
            bn = (lambda n: [nn.BatchNorm1d(n)]) if projector_bn else (lambda n: [])
            self.projector = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                           nn.Linear(c, hidden), *bn(hidden),
                                           nn.ReLU(inplace=True), nn.Linear(hidden, dim),
                                           *bn(dim))
        elif projector == 'flatten':
            if projector_bn:
                raise ValueError("projector_bn applies to projector='mlp'")
            self.projector = nn.Sequential(nn.Flatten(),
                                           nn.Linear(c * patch_size * patch_size, dim))
        else:
            raise ValueError(f"projector must be 'mlp' or 'flatten', got {projector!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.projector(self.encoder(x))


@MODELS.register_module()
class DiffusionPrintPretrainer(BaseModel):
    """Contrastive pretraining of the DiffusionPrint DnCNN.

    Anchors are encoded by the online encoder; their positives (another view of the
    same patch position, see :class:`PatchPairDataset`) and the hard-negative pool
    patches of the step by the momentum encoder ``theta_bar <- m theta_bar + (1 - m)
    theta`` (mmengine's :class:`ExponentialMovingAverage`, updated at the start of each
    training forward, i.e. after the previous optimizer step), **in one forward**, so
    its train-mode BatchNorm normalises positives and pool patches together. Each
    anchor's negatives are the ``topk`` most cosine-similar entries of the *opposite*
    category in the queue; empty or same-category entries are masked out of the
    logits. The queue holds pool patches (paper §3.4, the authors' code): filled from
    the pool before the first step (:class:`QueueFillHook`), then ``neg_batch_size``
    pool keys per step and rank, gathered over all ranks, enqueued after the loss.
    Loss: InfoNCE (mean over anchors with a positive) + ``cls_weight`` x
    cross-entropy of an optional linear head (2 classes real/generated or
    ``1 + #generators``).

    Args:
        backbone (dict): DnCNN kwargs (``depth``, ``width``, ``out_channels``).
        projector (str): ``'mlp'`` (GAP + MLP) or ``'flatten'`` (the C = 1 variant).
        proj_hidden (int): MLP hidden width (paper 128, authors' code 512).
        projector_bn (bool): BatchNorm after both MLP linears (the authors' projector).
        embed_dim (int): Embedding size. Defaults to 128.
        patch_size (int): Patch size (needed by the flatten projector).
        momentum (float): m of the momentum encoder. Defaults to 0.999.
        queue_size (int): Queue length. Defaults to 65536.
        topk (int): Hard negatives per anchor. Defaults to 512.
        temperature (float): tau. Defaults to 0.07.
        num_classes (int): Classes of the classification head: 2 is real/generated,
            ``1 + #generators`` the generator-aware head.
        cls_weight (float): lambda of the classification loss; 0 (default) means no head.
        head_input (str): What the head reads: ``'projection'`` (the projected
            embedding, paper §3.6) or ``'normalized'`` (its L2-normalised version, the
            authors' code).
        pairing (str): ``'patch'`` (the paper's spatial pairs) or ``'moco_aug'`` (the
            augmentation-only MoCo baseline: the positive is an augmented copy).
        flip (bool): Random horizontal/vertical flips of anchors and positives.
        flip_per_batch (bool): One flip draw for the whole batch (the authors' script)
            instead of one per sample.
        jpeg (dict, optional): ``dict(quality=(70, 95), prob=0.5)`` to JPEG-compress views
            (``pairing='patch'`` only).
        input_highpass (float | dict, optional): Input filter of every view and pool
            patch: an FFT cut-off (the paper's Table 3 HP filter) or
            ``dict(type='gaussian', sigma=1.0)`` (the authors' ``input_highpass``).
        enqueue_pool (bool): Enqueue the step's pool patches. Defaults to True.
        enqueue_positives (bool): Also enqueue the positive keys. Defaults to False
            (paper and authors: the queue holds pool patches).
        neg_batch_size (int, optional): Pool patches encoded and enqueued per step and
            rank (the first ones of the batch; the authors use 128). None: all.
        in_batch_negatives (bool): The authors' in-batch negatives: the ``B`` logits
            ``q_i . k_j`` beside the top-k, self and real-real pairs masked
            (:func:`in_batch_logits`); off in the paper.
        channels_last (bool): Encoders and their inputs in channels_last memory format
            (faster convolutions with oneDNN and cuDNN, above all in bf16).
        compile (bool | dict): ``torch.compile`` the two encoder forwards (a dict:
            its keyword arguments). The loss stays eager.

    Speed: mixed precision comes from the optim wrapper's autocast
    (:class:`MixedPrecisionOptimWrapper`): only the encoders run in bf16/fp16; their
    outputs are cast to fp32 and the loss, mining and queue run with autocast off.
    The training step has no host synchronisation.
    """

    def __init__(self, backbone: Optional[dict] = None, projector: str = 'mlp',
                 proj_hidden: int = 128, projector_bn: bool = False, embed_dim: int = 128,
                 patch_size: int = 64, momentum: float = 0.999, queue_size: int = 65536,
                 topk: int = 512, temperature: float = 0.07, num_classes: int = 0,
                 cls_weight: float = 0.0, head_input: str = 'projection',
                 pairing: str = 'patch', flip: bool = True, flip_per_batch: bool = False,
                 jpeg: Optional[dict] = None,
                 input_highpass: Union[None, float, dict] = None, enqueue_pool: bool = True,
                 enqueue_positives: bool = False, neg_batch_size: Optional[int] = None,
                 in_batch_negatives: bool = False, channels_last: bool = False,
                 compile: Union[bool, dict] = False,
                 data_preprocessor: Optional[dict] = None, init_cfg=None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        backbone = dict(dict(in_channels=3, out_channels=64, depth=17, width=64),
                        **(backbone or {}))
        if pairing not in ('patch', 'moco_aug'):
            raise ValueError(f"pairing must be 'patch' or 'moco_aug', got {pairing!r}")
        if pairing == 'moco_aug' and jpeg is not None:
            raise ValueError("jpeg applies to pairing='patch'; the moco_aug baseline draws "
                             'its own augmentations (moco_view)')
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f'momentum must be in [0, 1), got {momentum}')
        if head_input not in HEAD_INPUTS:
            raise ValueError(f'head_input must be one of {HEAD_INPUTS}, got {head_input!r}')
        if not (enqueue_pool or enqueue_positives):
            raise ValueError('enqueue_pool and enqueue_positives are both off: nothing '
                             'would ever enter the queue')
        if neg_batch_size is not None and neg_batch_size < 1:
            raise ValueError(f'neg_batch_size must be >= 1 or None, got {neg_batch_size}')
        self.backbone_cfg = backbone
        self.online = EmbeddingNet(DnCNN(**backbone), projector, proj_hidden, embed_dim,
                                   patch_size, projector_bn)
        self.channels_last = bool(channels_last)
        if self.channels_last:  # before the momentum copy, which inherits the format
            self.online.to(memory_format=torch.channels_last)
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
        self.head_input = head_input
        self.topk = int(topk)
        self.temperature = float(temperature)
        self.pairing = pairing
        self.flip = flip
        self.flip_per_batch = flip_per_batch
        self.jpeg = jpeg
        self.input_highpass = input_highpass
        self.high_pass = build_high_pass(input_highpass)
        self.enqueue_pool = enqueue_pool
        self.enqueue_positives = enqueue_positives
        self.neg_batch_size = neg_batch_size
        self.in_batch_negatives = in_batch_negatives
        self.compile_cfg = (dict() if compile is True else dict(compile)) if compile else None
        self._encoders: Optional[Tuple] = None  # (online, momentum) forwards, compiled lazily

    # ------------------------------------------------------------------ inputs
    def prepare(self, x: torch.Tensor, augment: bool = True) -> torch.Tensor:
        """uint8 ``(B, 3, P, P)`` -> encoder input: JPEG, /255, flips (``augment`` in
        training), then the input filter."""
        augment = augment and self.training
        if self.jpeg is not None and augment:
            x = random_jpeg(x, **self.jpeg)
        x = x.float() / 255.0
        if self.flip and augment:
            x = random_flips(x, per_batch=self.flip_per_batch)
        if self.high_pass is not None:
            x = self.high_pass(x)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _views(self, views: torch.Tensor,
               num_pos: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Anchor input, positive input and the has-positive mask of a batch."""
        anchor = views[:, 0]
        if self.pairing == 'moco_aug':
            base = anchor.float() / 255.0
            a, p = moco_view(base), moco_view(base)
            if self.high_pass is not None:
                a, p = self.high_pass(a), self.high_pass(p)
            if self.channels_last:
                a = a.contiguous(memory_format=torch.channels_last)
                p = p.contiguous(memory_format=torch.channels_last)
            return a, p, torch.ones_like(num_pos, dtype=torch.bool)
        has_pos = num_pos > 0
        pick = 1 + (torch.rand(num_pos.shape[0], device=num_pos.device)
                    * num_pos.clamp(min=1)).long().clamp(max=views.shape[1] - 1)
        positive = views[torch.arange(views.shape[0], device=views.device), pick]
        return self.prepare(anchor), self.prepare(positive), has_pos

    @torch.no_grad()
    def update_momentum(self) -> None:
        """:class:`ExponentialMovingAverage`'s update without its host syncs (it branches
        on its ``steps`` tensor per parameter): the same lerp, with weight 1 (an exact
        copy) at step 0 and ``1 - m`` after; buffers copied; ``steps`` += 1."""
        ema = self.momentum_encoder
        weight = torch.where(ema.steps == 0, 1.0, ema.momentum).to(torch.float32)
        for avg, src in zip(ema.module.parameters(), self.online.parameters()):
            avg.lerp_(src.detach(), weight.to(avg.dtype))
        for avg, src in zip(ema.module.buffers(), self.online.buffers()):
            avg.copy_(src)
        ema.steps += 1

    def encoders(self) -> Tuple:
        """``(online, momentum)`` forwards; ``torch.compile``-d on first use if asked."""
        if self._encoders is None:
            fwd = (self.online.forward, self.momentum_encoder.module.forward)
            if self.compile_cfg is not None:
                fwd = tuple(torch.compile(f, **self.compile_cfg) for f in fwd)
            self._encoders = fwd
        return self._encoders

    @torch.no_grad()
    def fill_queue(self, batches: Iterable[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
                   ) -> None:
        """Encode pool patches with the momentum encoder in eval mode (the authors'
        prefill) and enqueue them; ``batches`` yields this rank's ``(uint8 patches,
        category, generator label)`` (gathered over ranks: every rank must yield as
        many batches)."""
        if int(self.momentum_encoder.steps) == 0:  # not yet a copy of the online net
            self.momentum_encoder.update_parameters(self.online)
        was_training = self.training
        self.eval()
        device = self.queue.feats.device
        try:
            for x, cat, label in batches:
                keys = F.normalize(self.momentum_encoder.module(
                    self.prepare(x.to(device), augment=False)), dim=1)
                self.queue.enqueue(keys, cat.to(device), label.to(device))
        finally:
            self.train(was_training)

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

    def loss(self, views: torch.Tensor, num_pos: torch.Tensor, category: torch.Tensor,
             gen_label: torch.Tensor, neg: Optional[torch.Tensor],
             neg_category: Optional[torch.Tensor], neg_gen_label: Optional[torch.Tensor],
             neg_valid: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """One step: EMA update, InfoNCE (+ head) on the queue before this step, enqueue.

        No host synchronisation: masks are applied arithmetically, and pool rows
        without a patch (``neg_valid == 0``) enter the queue as empty slots.
        """
        self.update_momentum()
        anchor, positive, has_pos = self._views(views, num_pos)
        b = anchor.shape[0]
        use_pool = self.enqueue_pool and neg is not None
        if use_pool:
            stop = b if self.neg_batch_size is None else self.neg_batch_size
            neg, neg_category = neg[:stop], neg_category[:stop]
            neg_gen_label, neg_valid = neg_gen_label[:stop], neg_valid[:stop]
        online, momentum = self.encoders()
        proj = online(anchor)  # autocast (if the optim wrapper's) applies to the encoders
        with torch.no_grad():
            inputs = torch.cat([positive, self.prepare(neg, augment=False)]) if use_pool \
                else positive
            keys = momentum(inputs)
        with torch.autocast(anchor.device.type, enabled=False):  # loss and queue in fp32
            return self._loss(proj.float(), keys.float(), b, has_pos, category, gen_label,
                              use_pool, neg_category, neg_gen_label, neg_valid)

    def _loss(self, proj: torch.Tensor, keys: torch.Tensor, b: int, has_pos: torch.Tensor,
              category: torch.Tensor, gen_label: torch.Tensor, use_pool: bool,
              neg_category: Optional[torch.Tensor], neg_gen_label: Optional[torch.Tensor],
              neg_valid: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """The fp32 part of :meth:`loss` from the projections of the anchors and the
        momentum keys of positives (first ``b`` rows) and pool patches."""
        q = F.normalize(proj, dim=1)
        with torch.no_grad():
            keys = F.normalize(keys, dim=1)
            k, kn = keys[:b], keys[b:]
        extra = (in_batch_logits(q, k, category, has_pos, self.temperature)
                 if self.in_batch_negatives else None)
        # a snapshot: the enqueue below writes into the queue before backward
        bank, bank_cat = self.queue.feats.clone(), self.queue.category.clone()
        per_anchor, num_neg = hard_negative_info_nce(q, k, bank, bank_cat, category,
                                                     self.topk, self.temperature, extra)
        weight = has_pos.to(per_anchor.dtype)
        count = weight.sum().clamp(min=1.0)
        losses = dict(loss_nce=(per_anchor * weight).sum() / count)
        if self.cls_head is not None:
            target = category if self.num_classes == 2 else gen_label
            head_in = q if self.head_input == 'normalized' else proj
            losses['loss_cls'] = self.cls_weight * F.cross_entropy(self.cls_head(head_in),
                                                                   target)
        with torch.no_grad():
            losses['pos_sim'] = ((q * k).sum(1) * weight).sum() / count
            losses['num_neg'] = num_neg.float().mean()
            if self.enqueue_positives:
                self.queue.enqueue(k, torch.where(has_pos, category, -1), gen_label)
            if use_pool:
                valid = neg_valid.bool()
                self.queue.enqueue(kn, torch.where(valid, neg_category, -1),
                                   torch.where(valid, neg_gen_label, -1))
        return losses

    def encoder_state_dict(self) -> Dict[str, torch.Tensor]:
        """The online DnCNN's state_dict with the plain ``0.weight ...`` keys."""
        return self.online.encoder.state_dict()
