"""Load ImageNet weights into an RGB backbone from a local file (never downloads)."""
from mmengine.logging import print_log
from torch import nn

from .mit_keys import load_mit_checkpoint


def load_rgb_pretrained(backbone: nn.Module, filename: str) -> None:
    """Load MiT weights (SegFormer or mmseg layout, see :func:`load_mit_checkpoint`).

    Tensors whose shape differs from the backbone's are skipped and reported, so a
    checkpoint of a wider MiT never crashes the build. Raises if the file is missing,
    is a URL, or none of its tensors fits ``backbone``.
    """
    if '://' in filename:
        raise ValueError(f'rgb_pretrained must be a local file, got the URL {filename!r} '
                         '(dp_plugin never downloads weights)')
    state = load_mit_checkpoint(filename)
    own = backbone.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise ValueError(f'{filename}: no tensor matches the RGB backbone '
                         f'({type(backbone).__name__}); is it the right architecture?')
    backbone.load_state_dict(usable, strict=False)
    missing = sorted(set(own) - set(usable))
    print_log(f'RGB stream: loaded {len(usable)}/{len(own)} tensors from {filename}'
              + (f'; not in the file or mismatching: {missing[:5]}...' if missing else ''),
              logger='current')
