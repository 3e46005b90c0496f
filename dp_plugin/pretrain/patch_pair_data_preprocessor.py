"""Data preprocessor of the pretraining: uint8 patch batches -> the encoders' float views."""
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmengine.model import BaseDataPreprocessor

from dp_plugin.modalities.high_pass import build_high_pass
from dp_plugin.registry import MODELS
from .augment import moco_view, random_flips, random_jpeg

PAIRINGS = ('patch', 'moco_aug')
LABEL_KEYS = ('category', 'gen_label')
POOL_LABEL_KEYS = ('neg_category', 'neg_gen_label', 'neg_valid')


@MODELS.register_module()
class PatchPairDataPreprocessor(BaseDataPreprocessor):
    """Turn a :class:`PatchPairDataset` batch into the views of one contrastive step.

    The batch stays uint8 until here (:meth:`cast_data` moves it to the model's device).
    In training (``training=True``, what ``train_step`` passes) each anchor gets one
    positive drawn uniformly among its ``num_pos`` positives, then anchor and positive
    are prepared with augmentation: JPEG round trip (uint8), ``/ 255``, flips; pool
    patches (``neg``) are prepared without augmentation. Every view then goes through
    the input filter and, with ``channels_last``, into channels-last memory. With
    ``pairing='moco_aug'`` the positive is instead a second augmented copy of the anchor
    (:func:`moco_view`, the Table 1 MoCo baseline), and every anchor has a positive.

    All random draws come from torch's global generator, in the order positive pick,
    anchor, positive (:class:`RNGStateHook` checkpoints it, so a resumed run draws the
    same augmentations). The positive pick and the flips draw on the device (no host
    sync); the JPEG round trip runs on the CPU with Pillow, and :func:`moco_view` draws
    its crops and jitter from the CPU generator and crops sample by sample.

    Output (the keyword arguments of :meth:`DiffusionPrintPretrainer.forward`):
    ``inputs`` (``[anchor, positive]`` in training, ``[anchor]`` otherwise, float
    ``(B, 3, P, P)``), ``has_pos`` (bool ``(B,)``), ``category``, ``gen_label`` and, when
    the batch has pool patches, ``neg`` (float) with ``neg_category``, ``neg_gen_label``,
    ``neg_valid``.

    Args:
        pairing (str): ``'patch'`` (the paper's spatial pairs) or ``'moco_aug'``.
        flip (bool): Random horizontal/vertical flips of anchors and positives.
        flip_per_batch (bool): One flip draw for the whole batch (the authors' script)
            instead of one per sample.
        jpeg (dict, optional): ``dict(quality=(70, 95), prob=0.5)`` to JPEG-compress
            anchors and positives (``pairing='patch'`` only).
        input_highpass (float | dict, optional): Input filter of every view and pool
            patch: an FFT cut-off (the paper's Table 3 HP filter) or
            ``dict(type='gaussian', sigma=1.0)`` (the authors' ``input_highpass``); the
            export records it and the DiffusionPrint modality applies it at inference.
        channels_last (bool): Views in channels-last memory format. The pretrainer sets
            it from its own ``channels_last`` when the config leaves it out.
        non_blocking (bool): As :class:`BaseDataPreprocessor`'s.
    """

    def __init__(self, pairing: str = 'patch', flip: bool = True, flip_per_batch: bool = False,
                 jpeg: Optional[dict] = None, input_highpass: Union[None, float, dict] = None,
                 channels_last: bool = False, non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        if pairing not in PAIRINGS:
            raise ValueError(f'data_preprocessor.pairing must be one of {PAIRINGS}, '
                             f'got {pairing!r}')
        if pairing == 'moco_aug' and jpeg is not None:
            raise ValueError("data_preprocessor.jpeg applies to pairing='patch'; the moco_aug "
                             'baseline draws its own augmentations (moco_view)')
        self.pairing = pairing
        self.flip = bool(flip)
        self.flip_per_batch = bool(flip_per_batch)
        self.jpeg = jpeg
        self.input_highpass = input_highpass
        self.high_pass = build_high_pass(input_highpass)
        self.channels_last = bool(channels_last)

    def prepare(self, x: torch.Tensor, augment: bool = False) -> torch.Tensor:
        """uint8 ``(B, 3, P, P)`` -> encoder input: JPEG, ``/ 255``, flips (``augment``),
        then the input filter and memory format."""
        if self.jpeg is not None and augment:
            x = random_jpeg(x, **self.jpeg)
        x = x.float() / 255.0
        if self.flip and augment:
            x = random_flips(x, per_batch=self.flip_per_batch)
        return self._finish(x)

    def _finish(self, x: torch.Tensor) -> torch.Tensor:
        """Input filter, then channels-last memory if asked."""
        if self.high_pass is not None:
            x = self.high_pass(x)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def views(self, views: torch.Tensor,
              num_pos: torch.Tensor) -> Tuple[List[torch.Tensor], torch.Tensor]:
        """``[anchor, positive]`` training inputs and the has-positive mask of uint8
        ``views (B, V, 3, P, P)``, the anchor first."""
        anchor = views[:, 0]
        if self.pairing == 'moco_aug':
            base = anchor.float() / 255.0
            a, p = moco_view(base), moco_view(base)
            return [self._finish(a), self._finish(p)], torch.ones_like(num_pos, dtype=torch.bool)
        pick = 1 + (torch.rand(num_pos.shape[0], device=num_pos.device)
                    * num_pos.clamp(min=1)).long().clamp(max=views.shape[1] - 1)
        positive = views[torch.arange(views.shape[0], device=views.device), pick]
        return ([self.prepare(anchor, augment=True), self.prepare(positive, augment=True)],
                num_pos > 0)

    def forward(self, data: dict, training: bool = False) -> Dict[str, object]:
        """The model's keyword arguments for a batch (see the class docstring), with
        autocast off: ``train_step`` calls this inside the optim wrapper's autocast, and
        the views (the Gaussian filter is a convolution) stay fp32, as in the queue fill
        and the exported modality."""
        data = self.cast_data(data)
        with torch.autocast(data['views'].device.type, enabled=False):
            if training:
                inputs, has_pos = self.views(data['views'], data['num_pos'])
            else:
                inputs = [self.prepare(data['views'][:, 0])]
                has_pos = (data['num_pos'] > 0) | (self.pairing == 'moco_aug')
            out = dict(inputs=inputs, has_pos=has_pos, **{k: data[k] for k in LABEL_KEYS})
            if data.get('neg') is not None:
                out.update(neg=self.prepare(data['neg']),
                           **{k: data[k] for k in POOL_LABEL_KEYS})
        return out
