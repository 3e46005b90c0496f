"""Export the trained DnCNN of a pretraining checkpoint in the project's format."""
import datetime
import os
from typing import Dict, Optional, Tuple, Union

import torch
from mmengine.config import Config

from dp_plugin.modalities.checkpoint_formats import infer_dncnn_arch, input_highpass_of
from dp_plugin.modalities.export_format import save_modality_export
from dp_plugin.utils.checkpoint_reader import read_weights
from dp_plugin.utils.stored_config import stored_config

PREFIXES = {'online': 'online.encoder.', 'momentum': 'momentum_encoder.module.encoder.'}
RUNNER_FORMAT = ("a DiffusionPrintPretrainer runner checkpoint {'state_dict': online.encoder.*} "
                 'or a format of dp_plugin.modalities.checkpoint_formats.EXPECTED_FORMATS')


def dncnn_architecture(state_dict: Dict[str, torch.Tensor]) -> dict:
    """``DnCNN`` config (``type`` + :func:`infer_dncnn_arch`) of a plain-key state_dict."""
    arch = infer_dncnn_arch(state_dict)
    if arch is None:
        raise ValueError('not a DnCNN state_dict (convolutions expected at 0, 2, 5, ...)')
    return dict(type='DnCNN', **arch)


def encoder_from_checkpoint(path: str, which: str = 'online', read_config: bool = True
                            ) -> Tuple[Dict[str, torch.Tensor], Optional[Config], str]:
    """The DnCNN state_dict of a pretraining checkpoint, its config and run name.

    Runner checkpoints of :class:`DiffusionPrintPretrainer` hold the encoder under
    ``online.encoder.*`` (``momentum_encoder.module.encoder.*`` for the momentum encoder).
    Any other file goes through the modality loader
    (:func:`dp_plugin.modalities.checkpoint_formats.load_dncnn_state_dict`); for the
    authors' training checkpoint the returned config holds the input filter recorded
    in its ``args`` (``model.data_preprocessor.input_highpass``), so the export keeps it.
    A runner checkpoint's stored config is read as plain data (:func:`stored_config`),
    not at all with ``read_config=False``.
    """
    if which not in PREFIXES:
        raise ValueError(f'which must be one of {sorted(PREFIXES)}, got {which!r}')
    obj, tensors_meta = read_weights(path, RUNNER_FORMAT, 'a DnCNN to export')
    state = obj.get('state_dict') if isinstance(obj, dict) and tensors_meta is None else None
    prefix = PREFIXES[which]
    if state is not None and any(k.startswith(prefix) for k in state):
        enc = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        meta = obj.get('meta') or {}
        text = meta.get('cfg') if read_config else None
        cfg = stored_config(text, path) if text else None
        return enc, cfg, str(meta.get('experiment_name', ''))
    from dp_plugin.modalities.checkpoint_formats import (load_dncnn_state_dict,
                                                         trained_input_filter_of)
    from dp_plugin.modalities.dncnn import DnCNN
    spec = trained_input_filter_of(path)
    enc = load_dncnn_state_dict(path, DnCNN(), input_filter=spec)
    cfg = Config(dict(model=dict(data_preprocessor=dict(input_highpass=spec))))
    return enc, (cfg if spec else None), ''


def export_backbone(checkpoint: str, out: str, config: Optional[str] = None,
                    which: str = 'online', generators: Optional[list] = None,
                    input_highpass: Union[None, float, dict] = None) -> dict:
    """Write ``out`` (safetensors + metadata); return the metadata.

    ``config`` (a path) overrides the config stored in the checkpoint; it supplies
    ``input_highpass`` and the training ``generators`` unless given explicitly.
    """
    enc, cfg, run_name = encoder_from_checkpoint(checkpoint, which, read_config=not config)
    source = config if config else run_name
    if config:
        cfg = Config.fromfile(config)
    if cfg is not None:
        if input_highpass is None:
            input_highpass = input_highpass_of(cfg)
        if generators is None:
            ds = cfg.get('train_dataloader', {}).get('dataset', {})
            generators = list(ds.get('generators') or [])
    meta = dict(modality='DiffusionPrint', architecture=dncnn_architecture(enc),
                pixel_divisor=255, input_highpass=input_highpass,
                generators=list(generators or []), source_config=source,
                source_checkpoint=os.path.basename(checkpoint), encoder=which,
                created=datetime.datetime.now(datetime.timezone.utc).isoformat())
    save_modality_export(out, enc, meta)
    return meta
