"""The CMX encoders' shared weight loading (``MultiStreamMiT.load_pretrained``)."""
import pytest
import torch

from dp_plugin.models.backbones import LateFusionMultiMiT
from dp_plugin.models.converters.mit_keys import mmseg_to_segformer

TINY = dict(embed_dims=8, num_layers=[1, 1, 1, 1], num_heads=[1, 2, 5, 8])


def test_late_fusion_wrong_mit_variant_is_a_clear_error(tmp_path):
    """ImageNet weights of another MiT width: a one-line ``ValueError`` that names the
    file, the tensor and the stream (as the TruFor encoder gives), not torch's multi-line
    ``load_state_dict`` ``RuntimeError``."""
    path = tmp_path / 'mit_other.pth'
    other = LateFusionMultiMiT([3], **dict(TINY, embed_dims=16)).rgb
    torch.save({'state_dict': mmseg_to_segformer(other.state_dict())}, path)
    backbone = LateFusionMultiMiT([64, 3], pretrained=str(path), **TINY)
    with pytest.raises(ValueError, match=r'mit_other\.pth: layers\.0\.0\.projection\.weight '
                                         r'has shape \(16, 3, 7, 7\), the rgb stream'):
        backbone.init_weights()
