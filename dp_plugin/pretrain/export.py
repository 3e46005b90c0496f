"""Export the trained DnCNN of a pretraining checkpoint in the project's format."""
import datetime
import os
from typing import Dict, Optional, Tuple, Union

import torch
from mmengine.config import Config

from dp_plugin.modalities.export_format import save_modality_export

PREFIXES = {'online': 'online.encoder.', 'momentum': 'momentum_encoder.module.encoder.'}


def dncnn_architecture(state_dict: Dict[str, torch.Tensor]) -> dict:
    """``DnCNN`` kwargs read off a plain-key state_dict (convs at 0, 2, 5, ...)."""
    convs = sorted((int(k.split('.')[0]) for k, v in state_dict.items()
                    if k.endswith('.weight') and v.dim() == 4))
    if not convs:
        raise ValueError('no convolution weights in the state_dict')
    first, last = state_dict[f'{convs[0]}.weight'], state_dict[f'{convs[-1]}.weight']
    return dict(type='DnCNN', in_channels=int(first.shape[1]),
                out_channels=int(last.shape[0]), depth=len(convs), width=int(first.shape[0]))


def encoder_from_checkpoint(path: str, which: str = 'online'
                            ) -> Tuple[Dict[str, torch.Tensor], Optional[Config], str]:
    """The DnCNN state_dict of a pretraining checkpoint, its config and run name.

    Runner checkpoints of :class:`DiffusionPrintPretrainer` hold the encoder under
    ``online.encoder.*`` (``momentum_encoder.module.encoder.*`` for the momentum encoder).
    Any other file goes through the modality loader
    (:func:`dp_plugin.modalities.checkpoint_formats.load_dncnn_state_dict`); for the
    authors' training checkpoint the returned config holds the input filter recorded
    in its ``args`` (``model.input_highpass``), so the export keeps it.
    """
    if which not in PREFIXES:
        raise ValueError(f'which must be one of {sorted(PREFIXES)}, got {which!r}')
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    if path.endswith('.safetensors'):
        obj = None
    else:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    state = obj.get('state_dict') if isinstance(obj, dict) else None
    prefix = PREFIXES[which]
    if state is not None and any(k.startswith(prefix) for k in state):
        enc = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        meta = obj.get('meta') or {}
        text = meta.get('cfg')
        cfg = Config.fromstring(text, file_format='.py') if text else None
        return enc, cfg, str(meta.get('experiment_name', ''))
    from dp_plugin.modalities.checkpoint_formats import (authors_input_filter_of,
                                                         load_dncnn_state_dict)
    from dp_plugin.modalities.dncnn import DnCNN
    spec = authors_input_filter_of(path)
    enc = load_dncnn_state_dict(path, DnCNN(), input_filter=spec)
    return enc, (Config(dict(model=dict(input_highpass=spec))) if spec else None), ''


def export_backbone(checkpoint: str, out: str, config: Optional[str] = None,
                    which: str = 'online', generators: Optional[list] = None,
                    input_highpass: Union[None, float, dict] = None) -> dict:
    """Write ``out`` (safetensors + metadata); return the metadata.

    ``config`` (a path) overrides the config stored in the checkpoint; it supplies
    ``input_highpass`` and the training ``generators`` unless given explicitly.
    """
    enc, cfg, run_name = encoder_from_checkpoint(checkpoint, which)
    source = config if config else run_name
    if config:
        cfg = Config.fromfile(config)
    if cfg is not None:
        model = cfg.get('model', {})
        if input_highpass is None:
            input_highpass = model.get('input_highpass')
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
