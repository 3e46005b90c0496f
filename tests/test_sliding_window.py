"""Sliding-window inference of TruFor and MMFusion (``test_cfg=dict(mode='slide', ...)``).

Both segmentors replace mmseg's ``predict`` (they add confidence, score and modality
maps), so they must honour ``test_cfg`` themselves: ``dp-localize`` switches every image
larger than ``--tile`` to ``mode='slide'``. The reference for the window grid and the
overlap averaging is mmseg's own ``EncoderDecoder.slide_inference`` (windows every
``stride`` px, the last one moved back to the border, logits summed and divided by the
per-pixel window count).
"""
import numpy as np
import pytest
import torch
from mmengine.config import Config, ConfigDict

import dp_plugin  # noqa: F401  (registers everything; must precede mmseg.models)
from mmseg.models.segmentors import EncoderDecoder  # noqa: E402
from mmseg.structures import SegDataSample  # noqa: E402

from dp_plugin.apis.inference import Localizer
from dp_plugin.models.segmentors.confidence_detection_mixin import slide_windows
from dp_plugin.registry import MODELS

SLIDE = dict(mode='slide', crop_size=(24, 24), stride=(16, 16))  # a plain dict works too
HEAD = dict(in_index=[0, 1, 2, 3], channels=16)
DIMS = [8, 16, 40, 64]


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: several threads on a shared 2-core machine are much slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def trufor(heads=True):
    cfg = dict(type='TruFor',
               backbone=dict(type='DualMixVisionTransformer', embed_dims=8,
                             num_layers=[1, 1, 1, 1], num_heads=[1, 2, 5, 8]),
               decode_head=dict(type='AllMLPHead', num_classes=2, in_channels=DIMS,
                                loss_decode=dict(type='ForgeryDiceLoss'), **HEAD),
               modality=dict(type='DiffusionPrint', depth=3, width=8, out_channels=4),
               adapter=None)
    if heads:
        cfg.update(conf_head=dict(type='ConfidenceHead', in_channels=DIMS, **HEAD),
                   detection_head=dict(type='ConfPoolDetectionHead'))
    model = MODELS.build(cfg)
    model.init_weights()
    return model.eval()


def mmfusion_cfg():
    return dict(type='MMFusion', phase='detection',
                modalities=[dict(type='DiffusionPrint', depth=3, width=8, out_channels=64),
                            dict(type='SRM')],
                data_preprocessor=dict(type='SegDataPreProcessor', mean=None, std=None,
                                       bgr_to_rgb=True),
                backbone=dict(type='EarlyFusionDualMiT', embed_dims=8, num_layers=[1, 1, 1, 1],
                              num_heads=[1, 2, 5, 8], drop_path_rate=0.0),
                decode_head=dict(type='AllMLPHead', num_classes=2, in_channels=DIMS,
                                 loss_decode=dict(type='ForgeryDiceLoss'), **HEAD),
                conf_head=dict(type='ConfidenceHead', in_channels=DIMS, **HEAD),
                detection_head=dict(type='ConfPoolDetectionHead'))


def mmfusion():
    model = MODELS.build(mmfusion_cfg())
    model.init_weights()
    return model.eval()


def image(height=40, width=56, seed=0):
    torch.manual_seed(seed)
    x = torch.rand(1, 3, height, width) * 255
    sample = SegDataSample(metainfo=dict(ori_shape=(height, width), img_shape=(height, width)))
    return x, [sample]


def predict(model, mode_cfg, x, samples):
    model.test_cfg = mode_cfg
    with torch.no_grad():
        return model.predict(x, [s.clone() for s in samples])[0]


def test_window_grid_is_mmsegs():
    """Written out by hand from mmseg's rule for a 40 x 56 image, crop 24, stride 16."""
    windows = list(slide_windows((40, 56), (24, 24), (16, 16)))
    rows, cols = [(0, 24), (16, 40)], [(0, 24), (16, 40), (32, 56)]
    assert windows == [(y1, y2, x1, x2) for y1, y2 in rows for x1, x2 in cols]
    # Crop larger than the image: one window, clipped to the image (mmseg pads nothing).
    assert list(slide_windows((20, 30), (64, 64), (48, 48))) == [(0, 20, 0, 30)]
    with pytest.raises(ValueError, match='outside every window'):
        list(slide_windows((40, 40), (16, 16), (24, 24)))


@pytest.mark.parametrize('build', [trufor, mmfusion])
def test_slide_logits_equal_mmseg_slide_inference(build):
    """The stitched localization logits are exactly mmseg's ``slide_inference`` of the same
    model, and the whole-image ones its ``whole_inference`` (today TruFor runs the whole
    image whatever ``test_cfg`` says and MMFusion raises)."""
    model = build()
    x, samples = image(80, 112)  # the last row of windows is moved back to end at the border
    slide_cfg = ConfigDict(mode='slide', crop_size=(64, 64), stride=(48, 48))
    model.test_cfg = slide_cfg
    with torch.no_grad():
        # (slide_inference overwrites img_shape in the metas it gets: fresh copies each)
        reference = EncoderDecoder.slide_inference(model, x, [dict(samples[0].metainfo)])[0]
        whole_reference = EncoderDecoder.whole_inference(model, x, [dict(samples[0].metainfo)])[0]
    slide = predict(model, slide_cfg, x, samples).seg_logits.data
    whole = predict(model, ConfigDict(mode='whole'), x, samples).seg_logits.data
    assert torch.equal(slide, reference)
    assert torch.equal(whole, whole_reference)
    assert not torch.allclose(slide, whole, atol=1e-4)  # the windows really ran


def _per_pixel(model, kind):
    """Replace the network by a per-pixel function (real heads' detection stays), so the
    stitched maps must equal the whole-image maps."""
    def head_logits(feats, size, detection_head):
        rgb = feats[0]
        return dict(seg=torch.cat([rgb[:, :1] * 0.01, rgb[:, 1:2] * 0.02 - 1], 1),
                    conf=rgb[:, 2:3] * 0.01 - 1.2)
    model._head_logits = head_logits
    if kind == 'trufor':
        model.extract_modalities = lambda x: x[:, :1] / 255.0
        model.extract_fused_feat = lambda rgb, modality: [rgb]
    else:
        model.extract_feat = lambda x: [x / 255.0 * 100]


@pytest.mark.parametrize('build,kind', [(trufor, 'trufor'), (mmfusion, 'mmfusion')])
def test_per_pixel_model_stitches_to_the_whole_image_maps_and_score(build, kind):
    model = build()
    _per_pixel(model, kind)
    x, samples = image(40, 56)
    x = x.round()  # integer pixels: the per-pixel values are exact in float32
    slide = predict(model, SLIDE, x, samples)
    whole = predict(model, ConfigDict(mode='whole'), x, samples)
    fields = ['seg_logits', 'pred_conf'] + (['pred_modality'] if kind == 'trufor' else [])
    for field in fields:
        torch.testing.assert_close(slide.get(field).data, whole.get(field).data,
                                   rtol=0, atol=1e-6)
    # The score is pooled from the stitched maps of the whole image, not per window.
    torch.testing.assert_close(slide.pred_score, whole.pred_score, rtol=0, atol=1e-6)


@pytest.mark.parametrize('build,kind', [(trufor, 'trufor'), (mmfusion, 'mmfusion')])
def test_overlaps_are_averaged(build, kind):
    """Window k outputs the constant k: each pixel holds the mean of the indices of the
    windows covering it (computed here from the hand-written grid)."""
    model = build()
    _per_pixel(model, kind)
    rows, cols = [(0, 24), (16, 40)], [(0, 24), (16, 40), (32, 56)]
    grid = [(y1, y2, x1, x2) for y1, y2 in rows for x1, x2 in cols]
    calls = []

    def head_logits(feats, size, detection_head):
        k = float(len(calls))
        calls.append(size)
        return dict(seg=torch.full((1, 2, *size), k), conf=torch.full((1, 1, *size), -k))
    model._head_logits = head_logits
    x, samples = image(40, 56)
    out = predict(model, SLIDE, x, samples)
    expected = np.zeros((40, 56))
    count = np.zeros((40, 56))
    for k, (y1, y2, x1, x2) in enumerate(grid):
        expected[y1:y2, x1:x2] += k
        count[y1:y2, x1:x2] += 1
    expected /= count
    assert [tuple(s) for s in calls] == [(24, 24)] * 6
    np.testing.assert_allclose(out.seg_logits.data[1].numpy(), expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(out.pred_conf.data[0].numpy(), 1 / (1 + np.exp(expected)),
                               rtol=0, atol=1e-6)


def test_localizer_tiles_mmfusion_images_larger_than_the_tile():
    """``dp-localize``'s default path: an image over ``--tile`` px switches the model to
    ``mode='slide'``; MMFusion used to fail with "MMFusion predicts whole images"."""
    cfg = Config(dict(model=mmfusion_cfg(), default_scope='dp_plugin'))
    localizer = Localizer(cfg, None, tile=32, tile_overlap=8)
    rgb = np.random.default_rng(0).integers(0, 256, (48, 72, 3), dtype=np.uint8)
    out = localizer(rgb)
    assert localizer.model.test_cfg.mode == 'slide'
    assert out.map.shape == out.conf.shape == (48, 72)
    assert out.score is not None and 0 < out.score < 1
