"""``adapters.trufor`` on stand-ins of TruFor's two upstream model classes.

Facts the stand-ins mirror (peers.md, "Upstream behaviours a test stand-in must mirror",
and the upstream files ``TruFor_train_test/lib/models/cmx/builder_np_conf.py`` at 864355d
and ``test_docker/src/models/cmx/builder_np_conf.py`` / ``test_docker/src/trufor_test.py``
at 35b982a, read for facts only):

- both take RGB in [0, 1) (``uint8 / 256``), run ``dncnn`` on it *un-normalised*, then
  ImageNet-normalise the RGB stream (``prepro``) and call ``backbone(rgb, modal_x)``,
  the localization head, the confidence head and the confidence-pooled detection head;
  the heads' outputs are bilinearly resized to the input size (``align_corners=False``);
- training tree ``EncoderDecoder`` (attribute ``np_out_ch``): with ``'NP++' in
  FIX_MODULES`` the extractor runs under ``torch.no_grad()`` after ``self.dncnn.eval()``;
  its output is tiled with ``torch.tile(modal_x, (3, 1, 1))`` only when ``np_out_ch == 1``
  (otherwise ``assert np_out_ch == 3``); the tiled map is returned 4th only with
  ``save_np``;
- released ``myEncoderDecoder`` (attribute ``mods``, no ``np_out_ch``): the output of
  ``dncnn`` is *always* tiled with ``torch.tile(modal_x, (3, 1, 1))`` and returned 4th;
  ``trufor_test.py`` runs it in eval mode under ``torch.no_grad()`` and stores channel 0
  of that 4th output as ``np++``.

The parts (MiT streams + CMX fusion, heads) are dp_plugin's, tiny; only the forward
logic around ``dncnn`` matters to the patch.
"""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from dp_plugin.adapters.trufor import patch_trufor
from dp_plugin.modalities import DiffusionPrint, DnCNN
from dp_plugin.registry import MODELS

DIMS = [8, 16, 40, 64]
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def _parts():
    head = dict(in_channels=DIMS, in_index=[0, 1, 2, 3], channels=16)
    native = MODELS.build(dict(
        type='TruFor', modality=dict(type='NoisePrintPP', tile_to_3=True),
        backbone=dict(type='DualMixVisionTransformer', embed_dims=8, num_layers=[1, 1, 1, 1],
                      num_heads=[1, 2, 5, 8]),
        decode_head=dict(type='AllMLPHead', num_classes=2, **head),
        conf_head=dict(type='ConfidenceHead', **head),
        detection_head=dict(type='ConfPoolDetectionHead')))
    native.init_weights()
    return native.backbone, native.decode_head, native.conf_head, native.detection_head


class _UpstreamTruFor(nn.Module):
    """Shared by both stand-ins: modules named as upstream, ``encode_decode``."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.backbone, self.decode_head, self.decode_head_conf, self.detection = _parts()
        self.dncnn = DnCNN(3, 1, depth=3, width=8)
        self.mods = ('RGB', 'NP++')

    def encode_decode(self, rgb, modal_x):
        x = self.backbone(rgb, modal_x)
        size = rgb.shape[2:]
        out = F.interpolate(self.decode_head(x), size=size, mode='bilinear', align_corners=False)
        conf = F.interpolate(self.decode_head_conf(x), size=size, mode='bilinear',
                             align_corners=False)
        return out, conf, self.detection(out, conf)


class TrainingTreeTruFor(_UpstreamTruFor):
    """``TruFor_train_test`` ``EncoderDecoder`` forward (phase 2: ``FIX_MODULES=['NP++']``)."""

    def __init__(self):
        super().__init__()
        self.np_out_ch = 1
        self.fix_modules = ('NP++',)
        for p in self.dncnn.parameters():
            p.requires_grad = False

    def forward(self, rgb, save_np=False):
        if 'NP++' in self.fix_modules:
            with torch.no_grad():
                self.dncnn.eval()
                modal_x = self.dncnn(rgb)
        else:
            modal_x = self.dncnn(rgb)
        if self.np_out_ch == 1:
            modal_x = torch.tile(modal_x, (3, 1, 1))
        else:
            assert self.np_out_ch == 3
        out, conf, det = self.encode_decode((rgb - MEAN) / STD, modal_x)
        return out, conf, det, (modal_x if save_np else None)


class ReleasedTruFor(_UpstreamTruFor):
    """``test_docker`` ``myEncoderDecoder`` forward: always tiles the modality map 3x."""

    def forward(self, rgb):
        modal_x = self.dncnn(rgb)
        modal_x = torch.tile(modal_x, (3, 1, 1))
        out, conf, det = self.encode_decode((rgb - MEAN) / STD, modal_x)
        return out, conf, det, modal_x


def _images(n=1, size=32):
    torch.manual_seed(3)
    return torch.randint(0, 256, (n, 3, size, size)).float() / 256  # upstream scaling


def _dp():
    torch.manual_seed(5)
    return DiffusionPrint(depth=3, width=8)


@pytest.mark.parametrize('adapter', ['simple', 'deep', 'widen'])
def test_released_model_runs_patched_and_matches_the_training_tree(adapter):
    released, training = ReleasedTruFor().eval(), TrainingTreeTruFor().eval()
    training.load_state_dict(released.state_dict())
    x = _images()
    with torch.no_grad():  # unpatched, both compute the same Noiseprint++ model
        for a, b in zip(released(x)[:3], training(x)[:3]):
            torch.testing.assert_close(a, b)
    params = patch_trufor(released, adapter=adapter, modality=_dp())
    patch_trufor(training, adapter=adapter, modality=_dp())
    assert training.np_out_ch == 3 and not hasattr(released, 'np_out_ch')
    embed_r, embed_t = released.backbone.extra_patch_embed1, training.backbone.extra_patch_embed1
    embed_t.load_state_dict(embed_r.state_dict())  # same adapter / widened conv weights
    with torch.no_grad():  # as trufor_test.py: eval mode, no autograd, full image
        out, conf, det, npp = released(x)
        ref = training(x, save_np=True)
    assert npp.shape == (1, 192, 32, 32)  # upstream's own tile of the 64-channel map
    dp_map = released.dncnn.modality(x * 256 / 255)
    torch.testing.assert_close(npp[0, 0], dp_map[0, 0])  # what -save_np stores as np++
    torch.testing.assert_close(ref[3], dp_map)
    for a, b in zip((out, conf, det), ref[:3]):  # the noise stream saw the map once
        torch.testing.assert_close(a, b)
    assert out.shape == (1, 2, 32, 32) and conf.shape == (1, 1, 32, 32)
    released.train()  # fine-tuning the released model: gradients reach the new layers
    loss = sum(o.float().mean() for o in released(_images(2))[:3])
    loss.backward()
    assert all(p.grad is not None for p in params)
    assert all(p.grad is None for p in released.dncnn.parameters())


def test_patch_refuses_a_model_it_cannot_classify():
    model = ReleasedTruFor()
    del model.mods
    with pytest.raises(TypeError, match='cannot tell which TruFor forward'):
        patch_trufor(model, modality=_dp())
    assert isinstance(model.dncnn, DnCNN)  # left as it was
