"""MoCo-style DiffusionPrint pretraining model (paper §3.3-3.6)."""
from typing import Dict, Iterable, List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel, ExponentialMovingAverage

from dp_plugin.registry import MODELS
from .feature_queue import FeatureQueue
from .losses import hard_negative_info_nce, in_batch_logits

HEAD_INPUTS = ('projection', 'normalized')
#: Options that moved from the model to :class:`PatchPairDataPreprocessor`.
MOVED_TO_PREPROCESSOR = ('pairing', 'flip', 'flip_per_batch', 'jpeg', 'input_highpass')


class EmbeddingNet(nn.Module):
    """Encoder (a DnCNN) + projector: GAP and a 2-layer MLP, or flatten + linear (C = 1).

    ``projector_bn`` puts a BatchNorm1d after both linears of the MLP (the authors'
    projector); the paper describes a plain two-layer MLP.
    """

    def __init__(self, encoder: nn.Module, projector: str, hidden: int, dim: int,
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
    """Contrastive pretraining of the DiffusionPrint DnCNN (the objective; the views
    come from :class:`PatchPairDataPreprocessor`, the model's ``data_preprocessor``).

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
        backbone (dict): Config of the encoder, built from ``MODELS``; defaults to
            ``dict(type='DnCNN')`` (DnCNN-17/64, C = 64). Any registered module mapping
            ``(B, 3, P, P)`` to ``(B, C, P, P)`` with an ``out_channels`` attribute works;
            the export takes a DnCNN.
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
        enqueue_pool (bool): Enqueue the step's pool patches. Defaults to True.
        enqueue_positives (bool): Also enqueue the positive keys. Defaults to False
            (paper and authors: the queue holds pool patches).
        neg_batch_size (int, optional): Pool patches encoded and enqueued per step and
            rank (the first ones of the batch; the authors use 128). None: all.
        in_batch_negatives (bool): The authors' in-batch negatives: the ``B`` logits
            ``q_i . k_j`` beside the top-k, self and real-real pairs masked
            (:func:`in_batch_logits`); off in the paper.
        channels_last (bool): Encoders and their inputs in channels_last memory format
            (faster convolutions with oneDNN and cuDNN, above all in bf16); sets the data
            preprocessor's ``channels_last`` too.
        compile (bool | dict): ``torch.compile`` the two encoder forwards (a dict:
            its keyword arguments). The loss stays eager.
        data_preprocessor (dict | nn.Module, optional): The views' preprocessor; a dict
            without ``type`` (or None) is a :class:`PatchPairDataPreprocessor` (its
            options: ``pairing``, ``flip``, ``flip_per_batch``, ``jpeg``,
            ``input_highpass``).

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
                 enqueue_pool: bool = True, enqueue_positives: bool = False,
                 neg_batch_size: Optional[int] = None, in_batch_negatives: bool = False,
                 channels_last: bool = False, compile: Union[bool, dict] = False,
                 data_preprocessor: Union[None, dict, nn.Module] = None, init_cfg=None,
                 **moved) -> None:
        unknown = [key for key in moved if key not in MOVED_TO_PREPROCESSOR]
        if unknown:
            raise TypeError(f'DiffusionPrintPretrainer got unexpected arguments {unknown}')
        backbone = dict(type='DnCNN') if backbone is None else backbone
        fixes = [f'model.{key} moved to model.data_preprocessor.{key}' for key in moved]
        if 'type' not in backbone:
            fixes.append(f"model.backbone has no type: write backbone=dict(type='DnCNN', "
                         f'...) (got {dict(backbone)!r}; plain DnCNN keyword arguments are '
                         'no longer accepted)')
        if fixes:  # every change an old config needs, in one message
            raise ValueError('; '.join(fixes) + ' (PatchPairDataPreprocessor: set the view '
                             'options there)' * bool(moved))
        super().__init__(data_preprocessor=self._preprocessor(data_preprocessor, channels_last),
                         init_cfg=init_cfg)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f'momentum must be in [0, 1), got {momentum}')
        if head_input not in HEAD_INPUTS:
            raise ValueError(f'head_input must be one of {HEAD_INPUTS}, got {head_input!r}')
        if not (enqueue_pool or enqueue_positives):
            raise ValueError('enqueue_pool and enqueue_positives are both off: nothing '
                             'would ever enter the queue')
        if neg_batch_size is not None and neg_batch_size < 1:
            raise ValueError(f'neg_batch_size must be >= 1 or None, got {neg_batch_size}')
        self.online = EmbeddingNet(MODELS.build(backbone), projector, proj_hidden, embed_dim,
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
        self.enqueue_pool = enqueue_pool
        self.enqueue_positives = enqueue_positives
        self.neg_batch_size = neg_batch_size
        self.in_batch_negatives = in_batch_negatives
        self.compile_cfg = (dict() if compile is True else dict(compile)) if compile else None
        self._encoders: Optional[Tuple] = None  # (online, momentum) forwards, compiled lazily

    @staticmethod
    def _preprocessor(cfg: Union[None, dict, nn.Module], channels_last: bool
                      ) -> Union[dict, nn.Module]:
        """The data preprocessor, built from ``MODELS`` (a :class:`PatchPairDataPreprocessor`
        unless ``cfg`` names another type, which must offer its ``channels_last`` argument
        and ``prepare`` method), with the model's ``channels_last``."""
        if isinstance(cfg, nn.Module):
            given = getattr(cfg, 'channels_last', channels_last)
            if given != channels_last:
                raise ValueError(f'model.data_preprocessor.channels_last={given} contradicts '
                                 f'model.channels_last={channels_last}: build it with '
                                 f'channels_last={channels_last}')
            return cfg
        cfg = dict(dict(type='PatchPairDataPreprocessor'), **(cfg or {}))
        if cfg.setdefault('channels_last', channels_last) != channels_last:
            raise ValueError(f"model.data_preprocessor.channels_last={cfg['channels_last']} "
                             f'contradicts model.channels_last={channels_last}: leave it out '
                             '(the model sets it)')
        return MODELS.build(cfg)

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
                    self.data_preprocessor.prepare(x.to(device))), dim=1)
                self.queue.enqueue(keys, cat.to(device), label.to(device))
        finally:
            self.train(was_training)

    # ------------------------------------------------------------------ forward
    def forward(self, inputs: Union[torch.Tensor, List[torch.Tensor]],
                has_pos: Optional[torch.Tensor] = None,
                category: Optional[torch.Tensor] = None,
                gen_label: Optional[torch.Tensor] = None,
                neg: Optional[torch.Tensor] = None,
                neg_category: Optional[torch.Tensor] = None,
                neg_gen_label: Optional[torch.Tensor] = None,
                neg_valid: Optional[torch.Tensor] = None,
                mode: str = 'tensor') -> Union[Dict[str, torch.Tensor], torch.Tensor,
                                               List[torch.Tensor]]:
        """Take the data preprocessor's output (float views): ``'loss'``: one training
        step's losses (``inputs = [anchor, positive]``); ``'tensor'``: the encoder's
        feature maps of ``inputs[0]``; ``'predict'``: its normalised embeddings."""
        views = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if any(v.dtype == torch.uint8 for v in views):
            raise TypeError('DiffusionPrintPretrainer.forward takes the data preprocessor\'s '
                            'float views, got uint8: pass the batch through '
                            'model.data_preprocessor first (train_step/val_step do)')
        if mode == 'loss':
            return self.loss(views, has_pos, category, gen_label, neg, neg_category,
                             neg_gen_label, neg_valid)
        if mode == 'tensor':
            return self.online.encoder(views[0])
        if mode == 'predict':
            return list(F.normalize(self.online(views[0]), dim=1))
        raise ValueError(f'unknown mode {mode!r}')

    def loss(self, inputs: List[torch.Tensor], has_pos: torch.Tensor, category: torch.Tensor,
             gen_label: torch.Tensor, neg: Optional[torch.Tensor],
             neg_category: Optional[torch.Tensor], neg_gen_label: Optional[torch.Tensor],
             neg_valid: Optional[torch.Tensor]) -> Dict[str, torch.Tensor]:
        """One step: EMA update, InfoNCE (+ head) on the queue before this step, enqueue.

        ``inputs`` are the anchors' and positives' views; ``neg`` the prepared pool
        patches. No host synchronisation: masks are applied arithmetically, and pool rows
        without a patch (``neg_valid == 0``) enter the queue as empty slots.
        """
        self.update_momentum()
        anchor, positive = inputs[0], inputs[1]
        b = anchor.shape[0]
        use_pool = self.enqueue_pool and neg is not None
        if use_pool:
            stop = b if self.neg_batch_size is None else self.neg_batch_size
            neg, neg_category = neg[:stop], neg_category[:stop]
            neg_gen_label, neg_valid = neg_gen_label[:stop], neg_valid[:stop]
        online, momentum = self.encoders()
        proj = online(anchor)  # autocast (if the optim wrapper's) applies to the encoders
        with torch.no_grad():
            keys = momentum(torch.cat([positive, neg]) if use_pool else positive)
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
