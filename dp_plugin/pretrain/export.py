"""Export the trained DnCNN of a pretraining checkpoint in the project's format."""
import ast
import datetime
import os
from typing import Dict, Optional, Tuple, Union

import torch
from mmengine.config import Config

from dp_plugin.modalities.checkpoint_formats import infer_dncnn_arch
from dp_plugin.modalities.export_format import save_modality_export
from dp_plugin.utils.checkpoint_reader import read_weights

PREFIXES = {'online': 'online.encoder.', 'momentum': 'momentum_encoder.module.encoder.'}
RUNNER_FORMAT = ("a DiffusionPrintPretrainer runner checkpoint {'state_dict': online.encoder.*} "
                 'or a format of dp_plugin.modalities.checkpoint_formats.EXPECTED_FORMATS')


def dncnn_architecture(state_dict: Dict[str, torch.Tensor]) -> dict:
    """``DnCNN`` config (``type`` + :func:`infer_dncnn_arch`) of a plain-key state_dict."""
    arch = infer_dncnn_arch(state_dict)
    if arch is None:
        raise ValueError('not a DnCNN state_dict (convolutions expected at 0, 2, 5, ...)')
    return dict(type='DnCNN', **arch)


def input_highpass_of(cfg: Optional[Config]) -> Union[None, float, dict]:
    """The input filter a pretraining config trained with: ``model.data_preprocessor.
    input_highpass``, or ``model.input_highpass`` in configs written before the views moved
    to the data preprocessor (old checkpoints carry those)."""
    model = cfg.get('model', {}) if cfg is not None else {}
    preprocessor = model.get('data_preprocessor') or {}
    return preprocessor.get('input_highpass', model.get('input_highpass'))


def _plain_value(node: ast.expr):
    """The value of a literal expression of a dumped config (constants, lists, tuples,
    dicts, ``dict(k=v)``, signed numbers); anything else raises ``ValueError``."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_plain_value(e) for e in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict) and None not in node.keys:
        return {_plain_value(k): _plain_value(v) for k, v in zip(node.keys, node.values)}
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == 'dict' and not node.args
            and all(kw.arg is not None for kw in node.keywords)):
        return {kw.arg: _plain_value(kw.value) for kw in node.keywords}
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant)
            and type(node.operand.value) in (int, float)):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    raise ValueError(ast.dump(node)[:60])


def stored_config(text: str, path: str) -> Config:
    """The config a runner checkpoint stores (``meta['cfg']``, mmengine's dump) read as
    plain data, never executed: a stored config is as untrusted as the file, and
    ``Config.fromstring`` would run it as Python."""
    cfg = {}
    try:
        for stmt in ast.parse(text).body:
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name)):
                raise ValueError(type(stmt).__name__)
            cfg[stmt.targets[0].id] = _plain_value(stmt.value)
    except (SyntaxError, ValueError) as err:
        raise ValueError(f"{path}: the config stored in the checkpoint (meta['cfg']) is not "
                         f'plain data ({err}); it was not run (export: pass --config CFG)') from None
    return Config(cfg)


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
    from dp_plugin.modalities.checkpoint_formats import (authors_input_filter_of,
                                                         load_dncnn_state_dict)
    from dp_plugin.modalities.dncnn import DnCNN
    spec = authors_input_filter_of(path)
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
