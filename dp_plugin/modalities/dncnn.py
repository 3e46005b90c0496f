"""The DnCNN backbone shared by Noiseprint++ and DiffusionPrint."""
import torch.nn as nn

from dp_plugin.registry import MODELS


@MODELS.register_module()
class DnCNN(nn.Sequential):
    """Plain DnCNN as used by Noiseprint++ and DiffusionPrint (registered in ``MODELS``:
    the pretrainer builds it as ``backbone=dict(type='DnCNN', ...)``).

    ``depth`` 3x3 convolutions: the first with bias and ReLU, the inner ones
    without bias followed by BatchNorm and ReLU, the last linear with bias. As a
    flat ``nn.Sequential`` its ``state_dict`` keys are the plain indices used by every
    published checkpoint: convolutions at ``0, 2, 5, ..., 3 * depth - 4``, BatchNorm at
    ``3, 6, ...``, i.e. ``0.weight, 0.bias, 2.weight, 3.running_mean, ..., 47.bias`` for
    depth 17.

    Args:
        in_channels (int): Input channels. Defaults to 3.
        out_channels (int): Output channels (64 for DiffusionPrint, 1 for Noiseprint++).
        depth (int): Number of convolutions. Defaults to 17.
        width (int): Channels of the hidden layers. Defaults to 64.
        bn_momentum (float): BatchNorm momentum. Defaults to 0.1.
        bn_eps (float): BatchNorm epsilon. Defaults to 1e-5.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 64, depth: int = 17,
                 width: int = 64, bn_momentum: float = 0.1, bn_eps: float = 1e-5) -> None:
        if depth < 2:
            raise ValueError(f'DnCNN depth must be >= 2, got {depth}')
        layers = [nn.Conv2d(in_channels, width, 3, padding=1, bias=True), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1, bias=False),
                       nn.BatchNorm2d(width, eps=bn_eps, momentum=bn_momentum),
                       nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, out_channels, 3, padding=1, bias=True))
        super().__init__(*layers)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.depth = depth
        self.width = width

    @property
    def receptive_radius(self) -> int:
        """Pixels of context each output pixel sees on each side (1 per 3x3 layer)."""
        return self.depth
