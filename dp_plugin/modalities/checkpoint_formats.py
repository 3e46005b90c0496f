"""Read DnCNN weights (DiffusionPrint, Noiseprint++) from every published checkpoint format.

Recognised formats (the DnCNN is located by its keys, so prefixes such as ``module.``
from ``DataParallel`` are handled too):

==========================================  ==============================================
format                                      where the DnCNN lives
==========================================  ==============================================
dp_plugin export (``.safetensors``)         tensors with plain keys + JSON metadata
DiffusionPrint training checkpoint          ``model_state_dict`` -> ``encoder_q.*``
                                            (legacy ``dncnn_q.*``; ``encoder_k``,
                                            projector and queue are ignored)
TruFor ``trufor.pth.tar``                   ``state_dict`` -> ``dncnn.*``
Noiseprint++ ``noiseprint++.th``            ``network`` -> plain keys
MMFusion ``np++.pth``                       bare state_dict, plain keys
MMFusion training checkpoint                ``extractor_state_dict`` -> ``noiseprint.*``
MMEngine runner checkpoint                  ``state_dict`` -> ``<prefix>.*``, e.g.
                                            ``encoder_q.`` or ``backbone.``
==========================================  ==============================================

Files are read by the project's one weights-only reader
(:func:`dp_plugin.utils.checkpoint_reader.read_weights`); a pickle that needs any other
Python object is refused. A DiffusionPrint training checkpoint
records its training options in ``args``: one trained with an input filter loads only
into a caller that applies the same filter (:func:`authors_input_filter`). Any problem raises one
:class:`CheckpointFormatError` naming the file, the formats expected and what was found.
"""
import os
import re
from collections import OrderedDict
from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple, Union

import torch
from mmengine.logging import print_log

from dp_plugin.utils.checkpoint_reader import (CheckpointFormatError, looks_like_safetensors,
                                               read_weights)
from .export_format import (FORMAT_NAME, METADATA_KEY, ExportMetadataError,
                            read_export_metadata, save_modality_export)

__all__ = ['CheckpointFormatError', 'load_dncnn_state_dict', 'read_export_metadata',
           'save_modality_export', 'export_metadata_or_none', 'EXPECTED_FORMATS',
           'authors_input_filter', 'trained_input_filter_of', 'input_highpass_of',
           'infer_dncnn_arch']

EXPECTED_FORMATS = (
    f'dp_plugin export (.safetensors with "{METADATA_KEY}" metadata)',
    "DiffusionPrint training checkpoint {'model_state_dict': encoder_q.* or dncnn_q.*}",
    "TruFor trufor.pth.tar {'state_dict': dncnn.*}",
    "Noiseprint++ noiseprint++.th {'network': 0.weight ...}",
    'MMFusion np++.pth (bare state_dict 0.weight ...)',
    "MMFusion checkpoint {'extractor_state_dict': noiseprint.*}",
    "MMEngine runner checkpoint {'state_dict': <prefix>.0.weight ...}",
)

# Containers searched for a DnCNN, most trusted first; EMA weights only as a fallback.
_CONTAINERS = ('model_state_dict', 'state_dict', 'network', 'extractor_state_dict',
               'model', 'module')
_FALLBACK_CONTAINERS = ('ema_state_dict',)
_TOP = '<top level>'
# Momentum ("key") encoders of MoCo-style training: never the network to deploy.
_KEY_ENCODER = re.compile(r'(^|\.)(encoder_k|dncnn_k|key_encoder|momentum_encoder|'
                          r'backbone_k|model_k|teacher)\.')
_DNCNN_KEY = re.compile(r'^(?P<prefix>(?:.*\.)?)(?P<index>\d+)\.'
                        r'(?P<name>weight|bias|running_mean|running_var|num_batches_tracked)$')
_KNOWN = {
    ('model_state_dict', 'encoder_q.'): 'DiffusionPrint training checkpoint',
    ('model_state_dict', 'dncnn_q.'): 'DiffusionPrint training checkpoint (legacy dncnn_q)',
    ('state_dict', 'dncnn.'): 'TruFor checkpoint',
    ('state_dict', 'module.dncnn.'): 'TruFor checkpoint (DataParallel)',
    ('network', ''): 'Noiseprint++ checkpoint',
    (_TOP, ''): 'bare DnCNN state_dict',
    ('extractor_state_dict', 'noiseprint.'): 'MMFusion checkpoint',
}


def _error(filename: str, found: str) -> CheckpointFormatError:
    """A :class:`CheckpointFormatError` listing :data:`EXPECTED_FORMATS`."""
    return CheckpointFormatError(filename, found, EXPECTED_FORMATS, 'DnCNN weights')


class _Candidate(NamedTuple):
    container: str
    prefix: str
    state_dict: Dict[str, torch.Tensor]
    arch: dict

    @property
    def where(self) -> str:
        prefix = f'{self.prefix}*' if self.prefix else 'plain keys'
        return f'{self.container} -> {prefix}'

    @property
    def description(self) -> str:
        known = _KNOWN.get((self.container, self.prefix))
        return f'{known} ({self.where})' if known else self.where


def _arch_of(module: torch.nn.Module) -> dict:
    return dict(in_channels=module.in_channels, out_channels=module.out_channels,
                depth=module.depth, width=module.width)


def _format_arch(arch: dict) -> str:
    return ('DnCNN(in_channels={in_channels}, out_channels={out_channels}, depth={depth}, '
            'width={width})'.format(**arch))


def infer_dncnn_arch(state_dict: Mapping[str, torch.Tensor]) -> Optional[dict]:
    """``DnCNN`` kwargs (in/out channels, depth, width) of a plain-key DnCNN state_dict.

    The project's one architecture inference (the modality loader and the export use it).
    Convolutions sit at ``0, 2, 5, 8, ...`` (conv, then conv-BN-ReLU triples); None when
    ``state_dict`` is not such a DnCNN.
    """
    convs = sorted(int(k.split('.')[0]) for k, v in state_dict.items()
                   if k.endswith('.weight') and v.dim() == 4 and k.split('.')[0].isdigit())
    depth = len(convs)
    if depth < 2 or convs != [0] + [2 + 3 * i for i in range(depth - 1)]:
        return None
    first, last = state_dict['0.weight'], state_dict[f'{convs[-1]}.weight']
    return dict(in_channels=int(first.shape[1]), out_channels=int(last.shape[0]), depth=depth,
                width=int(first.shape[0]))


def _is_tensor_dict(obj) -> bool:
    return isinstance(obj, Mapping) and any(isinstance(v, torch.Tensor) for v in obj.values())


def _candidates(obj: Mapping) -> Tuple[List[_Candidate], List[_Candidate]]:
    """(primary, fallback) DnCNN candidates found in a loaded checkpoint."""
    containers = [(_TOP, obj)] + [(name, obj[name]) for name in _CONTAINERS if name in obj]
    fallback = [(name, obj[name]) for name in _FALLBACK_CONTAINERS if name in obj]

    def scan(pairs):
        found = []
        for cname, sd in pairs:
            if not _is_tensor_dict(sd):
                continue
            groups: Dict[str, Dict[str, torch.Tensor]] = {}
            for key, value in sd.items():
                m = _DNCNN_KEY.match(str(key))
                if m and isinstance(value, torch.Tensor):
                    groups.setdefault(m['prefix'], {})[f"{m['index']}.{m['name']}"] = value
            for prefix, group in groups.items():
                arch = infer_dncnn_arch(group)
                if arch is not None:
                    found.append(_Candidate(cname, prefix, group, arch))
        return found

    return scan(containers), scan(fallback)


def _read(filename: str) -> Tuple[Mapping, Optional[dict]]:
    """:func:`read_weights` of ``filename``; returns (object, dp_plugin export metadata or None)."""
    obj, tensors_meta = read_weights(filename, EXPECTED_FORMATS, 'DnCNN weights')
    return obj, (export_metadata_or_none(filename) if tensors_meta is not None else None)


def export_metadata_or_none(filename: str) -> Optional[dict]:
    """The dp_plugin export metadata of ``filename``, or None for any other file.

    An export whose metadata contradicts its tensors raises :class:`ExportMetadataError`.
    """
    if not (isinstance(filename, (str, os.PathLike)) and os.path.isfile(filename)
            and looks_like_safetensors(filename)):
        return None
    try:
        return read_export_metadata(filename)
    except ExportMetadataError:
        raise
    except ValueError:
        return None


def _summarise(obj) -> str:
    if not isinstance(obj, Mapping):
        return f'a {type(obj).__name__} object, not a dict'
    keys = list(obj.keys())
    shown = ', '.join(repr(k) for k in keys[:8]) + (', ...' if len(keys) > 8 else '')
    return f'a dict with {len(keys)} keys ({shown}) but no DnCNN state_dict in it'


def _hint(found: dict, expected: dict) -> str:
    if found['out_channels'] == 1 and expected['out_channels'] != 1:
        return ' -- a 1-channel (Noiseprint++-like) network; load it with NoisePrintPP'
    if found['out_channels'] != expected['out_channels']:
        return (f" -- build the modality with out_channels={found['out_channels']} "
                'to use it')
    return ''


def _is_authors_checkpoint(obj) -> bool:
    sd = obj.get('model_state_dict') if isinstance(obj, Mapping) else None
    return _is_tensor_dict(sd) and any(str(k).startswith(('encoder_q.', 'dncnn_q.'))
                                       for k in sd)


def authors_input_filter(obj: Mapping, filename: str) -> Optional[dict]:
    """The input filter a DiffusionPrint training checkpoint was trained with.

    Reads the checkpoint's ``args`` (their script's options, ``vars(args)``) and the
    filter buffers of ``model_state_dict``: ``input_highpass`` (a Gaussian high-pass
    ``x - GaussianBlur_sigma(x)`` of every input, ``input_highpass_sigma``, default 1;
    buffer ``hp_kernel``) gives ``dict(type='gaussian', sigma=...)``; None when no
    filter was used. ``anchor_bandpass`` (anchors band-passed, positives not) and
    ``highpass_prob`` > 0 (a Laplacian on a random fraction of the batches) have no
    single input filter to reproduce and raise :class:`CheckpointFormatError` naming
    the key, as does an ``hp_kernel`` that is not the recorded sigma's Gaussian.
    """
    sd = obj.get('model_state_dict') or {}
    args = obj.get('args')
    args = args if isinstance(args, Mapping) else {}
    if args.get('anchor_bandpass') or 'bp_low_kernel' in sd:
        raise _error(
            filename, "trained with args['anchor_bandpass']=True (a band-pass on the "
            'anchors only, positives unfiltered): no input filter reproduces that '
            'training, so it is not loaded')
    try:
        prob = float(args.get('highpass_prob') or 0.0)
    except (TypeError, ValueError):
        prob = 1.0
    if prob > 0 or 'laplacian_kernel' in sd:
        raise _error(
            filename, f"trained with args['highpass_prob']={args.get('highpass_prob')!r} "
            '(a Laplacian high-pass on a random fraction of the batches): no single input '
            'filter reproduces that training, so it is not loaded')
    if not (args.get('input_highpass') or 'hp_kernel' in sd):
        return None
    sigma = float(args.get('input_highpass_sigma') or 1.0)
    if 'hp_kernel' in sd:
        from .high_pass import GaussianHighPass
        want = GaussianHighPass(sigma).kernel[0, 0]
        got = sd['hp_kernel'][0, 0].float()
        if got.shape != want.shape or not torch.allclose(got, want, atol=1e-6):
            raise _error(
                filename, f"model_state_dict['hp_kernel'] ({tuple(got.shape)}) is not the "
                f"Gaussian of args['input_highpass_sigma']={sigma}; not loaded")
    return dict(type='gaussian', sigma=sigma)


def input_highpass_of(cfg: Optional[Mapping]) -> Union[None, float, dict]:
    """The input filter a pretraining config trained with: ``model.data_preprocessor.
    input_highpass``, or ``model.input_highpass`` in configs written before the views moved
    to the data preprocessor (old checkpoints carry those)."""
    model = cfg.get('model', {}) if cfg is not None else {}
    preprocessor = model.get('data_preprocessor') or {}
    return preprocessor.get('input_highpass', model.get('input_highpass'))


def _is_runner_checkpoint(obj) -> bool:
    """A ``DiffusionPrintPretrainer`` runner checkpoint (``state_dict`` with ``online.*``)."""
    sd = obj.get('state_dict') if isinstance(obj, Mapping) else None
    return _is_tensor_dict(sd) and any(str(k).startswith('online.encoder.') for k in sd)


def runner_input_filter(obj: Mapping, filename: str) -> Union[None, float, dict]:
    """The input filter a pretraining runner checkpoint was trained with, read from the
    config it stores (``meta['cfg']``, as data: :func:`~dp_plugin.utils.stored_config.
    stored_config`); None when it stores none."""
    meta = obj.get('meta')
    text = meta.get('cfg') if isinstance(meta, Mapping) else None
    if not text:
        return None
    from dp_plugin.utils.stored_config import stored_config
    try:
        return input_highpass_of(stored_config(text, filename))
    except ValueError as err:
        raise _error(filename, str(err).split(': ', 1)[-1]) from None


def _recorded_filter(obj: Mapping, filename: str
                     ) -> Optional[Tuple[Union[None, float, dict], str]]:
    """(input filter, where it is recorded) of the training checkpoints that record one:
    the authors' (:func:`authors_input_filter`) and our runner checkpoints
    (:func:`runner_input_filter`); None for any other format."""
    if _is_authors_checkpoint(obj):
        args = obj.get('args') if isinstance(obj.get('args'), Mapping) else {}
        return (authors_input_filter(obj, filename),
                f"args['input_highpass']={args.get('input_highpass')!r}")
    if _is_runner_checkpoint(obj):
        return (runner_input_filter(obj, filename),
                "model.data_preprocessor.input_highpass in its meta['cfg']")
    return None


def trained_input_filter_of(filename: str) -> Union[None, float, dict]:
    """The input filter the weights in ``filename`` were trained with
    (:func:`_recorded_filter`); None for any other format."""
    obj, meta = _read(os.fspath(filename))
    recorded = _recorded_filter(obj, os.fspath(filename)) if meta is None else None
    return recorded[0] if recorded else None


def _same_filter(a, b) -> bool:
    return (a or None) == (b or None)


def load_dncnn_state_dict(filename: str, dncnn: torch.nn.Module,
                          prefix: Optional[str] = None,
                          input_filter: Union[None, float, dict] = None
                          ) -> 'OrderedDict[str, torch.Tensor]':
    """Return the DnCNN ``state_dict`` (plain keys ``0.weight ... 47.bias``) in ``filename``.

    Args:
        filename (str): A checkpoint in any format of :data:`EXPECTED_FORMATS`.
        dncnn (DnCNN): The network the weights are for; its architecture is checked.
        prefix (str, optional): Key prefix of the DnCNN (e.g. ``'backbone.'``) when a
            file holds several full DnCNNs that are not a MoCo query/key pair.
        input_filter (float | dict, optional): The input filter the caller applies
            (``input_highpass`` spec, None = none). A DiffusionPrint training
            checkpoint trained with another filter is refused
            (:func:`authors_input_filter`).

    Raises:
        FileNotFoundError: ``filename`` does not exist.
        CheckpointFormatError: the file is unreadable, unsafe, holds no DnCNN, or a
            DnCNN of another architecture.
    """
    filename = os.fspath(filename)
    obj, meta = _read(filename)
    expected = _arch_of(dncnn)
    if meta is not None:
        recorded = meta.get('architecture') or {}
        arch = {k: recorded.get(k, v) for k, v in expected.items()}  # tensors check the rest
        if arch != expected:
            raise _error(
                filename, f'a dp_plugin export of {_format_arch(arch)}, but the modality '
                f'is {_format_arch(expected)}{_hint(arch, expected)}')
    if not isinstance(obj, Mapping):
        raise _error(filename, _summarise(obj))
    primary, fallback = _candidates(obj)
    candidates = primary or fallback
    if prefix is not None:
        candidates = [c for c in candidates if c.prefix == prefix]
        if not candidates:
            raise _error(filename, f'no DnCNN under prefix {prefix!r}; found: '
                                        f'{[c.where for c in primary + fallback] or "none"}')
    if not candidates:
        raise _error(filename, _summarise(obj))
    matching = [c for c in candidates if c.arch == expected]
    if not matching:
        found = '; '.join(f'{_format_arch(c.arch)} under {c.where}' for c in candidates)
        raise _error(
            filename, f'found {found}, but the modality is {_format_arch(expected)}'
            f'{_hint(candidates[0].arch, expected)}')
    queries = [c for c in matching if not _KEY_ENCODER.search(c.prefix)]
    matching = queries or matching
    if len(matching) > 1:
        where = ', '.join(f'{c.prefix!r} ({c.container})' for c in matching)
        raise _error(
            filename, f'several DnCNNs ({where}); pass prefix=... to choose one')
    chosen = matching[0]
    recorded = (_recorded_filter(obj, filename) if chosen.container == 'model_state_dict'
                or (chosen.container, chosen.prefix) == ('state_dict', 'online.encoder.')
                else None)
    if recorded is not None and not _same_filter(recorded[0], input_filter):
        raise _error(
            filename, f'a DiffusionPrint training checkpoint trained with input filter '
            f'{recorded[0]!r} ({recorded[1]}), but the caller applies {input_filter!r}; '
            f'build the modality with input_highpass={recorded[0]!r} '
            '(DiffusionPrint(checkpoint=...) reads it from the checkpoint by default)')
    wanted = dncnn.state_dict()
    missing = [k for k in wanted if k not in chosen.state_dict
               and not k.endswith('num_batches_tracked')]
    if missing:
        raise _error(
            filename, f'an incomplete DnCNN under {chosen.where}: missing {missing[:6]}')
    for key, value in chosen.state_dict.items():
        if key in wanted and value.shape != wanted[key].shape:
            raise _error(
                filename, f'{chosen.where}: {key} has shape {tuple(value.shape)}, '
                f'expected {tuple(wanted[key].shape)}')
    fmt = FORMAT_NAME if meta is not None else chosen.description
    print_log(f'{filename}: DnCNN weights from {fmt}', logger='current')
    return OrderedDict((k, chosen.state_dict[k]) for k in wanted if k in chosen.state_dict)
