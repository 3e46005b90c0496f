"""Helpers shared by the tests and the benchmarks (clone-only, not part of the package).

The tests import it by name (pytest puts ``tests/`` on ``sys.path``); the benchmarks
append ``tests/`` to ``sys.path`` themselves. Heavy imports stay inside the functions so
that a benchmark's parent process stays light.
"""
import importlib.util
import os.path as osp
from types import ModuleType
from typing import Sequence

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def tiny_segformer_config(embed_dims: int = 8, num_layers: Sequence[int] = (1, 1, 1, 1),
                          channels: int = 16) -> str:
    """Text of a plain mmseg ``EncoderDecoder`` config (MiT + SegformerHead, 2 classes).

    MiT's default ``num_heads`` (1, 2, 4, 8) set the stage widths, so the head's inputs are
    ``embed_dims`` x (1, 2, 4, 8). The defaults are the tests' model (a few thousand weights).
    """
    in_channels = [embed_dims * k for k in (1, 2, 4, 8)]
    return f"""
default_scope = 'dp_plugin'
custom_imports = dict(imports=['dp_plugin'], allow_failed_imports=False)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=None, std=None, bgr_to_rgb=True),
    backbone=dict(type='MixVisionTransformer', embed_dims={embed_dims},
                  num_layers={list(num_layers)}),
    decode_head=dict(type='SegformerHead', in_channels={in_channels}, in_index=[0, 1, 2, 3],
                     channels={channels}, num_classes=2, loss_decode=dict(type='CrossEntropyLoss')),
    test_cfg=dict(mode='whole'))
"""


#: The tests' tiny segmentor config.
TINY_CONFIG = tiny_segformer_config()


def save_random_model(config: str, checkpoint: str, wrap: bool = False):
    """Build the model of the config file ``config`` with seed-0 random weights and save its
    state dict to ``checkpoint`` (as ``{'state_dict': ..., 'meta': {}}`` when ``wrap``, the
    layout mmengine's runner writes). Returns the model."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from dp_plugin.registry import MODELS
    init_default_scope('dp_plugin')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(config).model)
    state = model.state_dict()
    torch.save({'state_dict': state, 'meta': {}} if wrap else state, checkpoint)
    return model


def randomize_batchnorm(module):
    """Give every BatchNorm2d of ``module`` non-trivial statistics and affine weights, as
    trained weights have (BN folding is then no no-op), from the current torch RNG."""
    import torch
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.1)
            m.num_batches_tracked.fill_(1000)
    return module


def trained_bn(modality, seed: int = 0):
    """A DnCNN modality (its ``dncnn``) with seeded non-trivial BN statistics; returned."""
    import torch
    torch.manual_seed(seed)
    randomize_batchnorm(modality.dncnn)
    return modality


def random_dncnn(out_channels: int = 64, depth: int = 17, width: int = 64, seed: int = 0):
    """A DnCNN with seeded random weights and non-trivial BN statistics."""
    import torch

    from dp_plugin.modalities import DnCNN
    torch.manual_seed(seed)
    return randomize_batchnorm(DnCNN(3, out_channels, depth=depth, width=width))


def unit_vectors(*shape: int, seed: int):
    """Seeded standard-normal rows of ``shape``, L2-normalised along the last axis."""
    import torch
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g), dim=-1)


def load_tool(name: str) -> ModuleType:
    """Import ``tools/<name>.py`` by path (tools are scripts, not a package); ``name`` may
    name a subfolder (``'convert/trufor_to_dp'``). The module is not put in ``sys.modules``."""
    spec = importlib.util.spec_from_file_location(osp.basename(name),
                                                  osp.join(REPO, 'tools', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ShellExploit:
    """Pickled, it unpickles into ``os.system('touch MARKER')``: a checkpoint carrying it
    must be refused, and ``marker`` must not exist afterwards."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os
        return os.system, (f'touch {self.marker}',)
