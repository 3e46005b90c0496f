"""One forgery-map renderer, one colour convention (issue 14, "three overlay renderers").

dp-localize's overlay figure, ``ForgeryHeatmapHook`` (``tools/test.py --show-dir``) and the
demo's qualitative grid all draw the map in ``RdBu_r`` on [0, 1] with a colour bar. The
expected colours are taken from matplotlib's ``RdBu_r`` here, not from the renderer.
"""
import io
import os
import os.path as osp
import re
from types import SimpleNamespace

import matplotlib
import numpy as np
import torch
from PIL import Image

from _helpers import load_tool

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
RDBU = (matplotlib.colormaps['RdBu_r']([0.0, 0.25, 0.75, 1.0])[:, :3] * 255).round()
JET_EXTREMES = np.array([[0, 0, 128], [128, 0, 0]])  # OpenCV JET at 0 and 1, as RGB


def _halves(h: int = 60, w: int = 80) -> np.ndarray:
    """A map that is 0 on the left half, 1 on the right half."""
    prob = np.zeros((h, w), np.float32)
    prob[:, w // 2:] = 1.0
    return prob


def _count(picture: np.ndarray, colour, tol: float = 0.0) -> int:
    return int((np.abs(picture[..., :3].astype(np.float64) - colour).max(-1) <= tol).sum())


def _assert_rdbu_with_colour_bar(png_path) -> np.ndarray:
    """The map's two values appear as exact RdBu_r colours, and RdBu_r colours the map does
    not hold (0.25, 0.75) appear too: a colour bar on [0, 1]. No JET colours."""
    picture = np.asarray(Image.open(png_path).convert('RGB'))
    assert _count(picture, RDBU[0]) > 200 and _count(picture, RDBU[3]) > 200
    assert _count(picture, RDBU[1], tol=4) > 5 and _count(picture, RDBU[2], tol=4) > 5
    assert _count(picture, JET_EXTREMES[0], 2) == 0 and _count(picture, JET_EXTREMES[1], 2) == 0
    return picture


def test_dp_localize_overlay_uses_the_convention(tmp_path):
    from dp_plugin.apis.localize_outputs import save_overlay
    prob = _halves()
    output = SimpleNamespace(map=prob, conf=None, score=0.9)
    path = tmp_path / 'a.png.overlay.png'
    save_overlay(str(path), np.full((60, 80, 3), 128, np.uint8), output, 0.5, 'a.png')
    _assert_rdbu_with_colour_bar(path)


def test_show_dir_hook_uses_the_convention_and_keeps_the_caption(tmp_path):
    """Before: OpenCV JET blended over the image, no colour bar."""
    from mmseg.structures import SegDataSample
    from mmengine.structures import PixelData
    from dp_plugin.evaluation import ForgeryHeatmapHook
    image = tmp_path / 'img.png'
    Image.fromarray(np.full((60, 80, 3), 128, np.uint8)).save(image)
    gt = np.zeros((60, 80), np.int64)
    gt[:, 40:] = 1
    gt[:5] = 255  # ignored: grey
    sample = SegDataSample(metainfo=dict(img_path=str(image), generator='g', label=1))
    sample.seg_logits = PixelData(data=torch.from_numpy(_halves())[None])
    sample.gt_sem_seg = PixelData(data=torch.from_numpy(gt)[None])
    hook = ForgeryHeatmapHook(out_dir=str(tmp_path / 'show'))
    hook.after_test_iter(None, 0, outputs=[sample])
    out = tmp_path / 'show' / 'g_img.png'
    picture = _assert_rdbu_with_colour_bar(out)
    assert _count(picture, (128, 128, 128)) > 100  # ignored pixels (and the grey image)
    assert not [f for f in os.listdir(tmp_path / 'show') if f != 'g_img.png']  # atomic


def test_demo_grid_uses_the_convention(tmp_path):
    demo_lib = load_tool('demo_lib')
    image, npz = tmp_path / 'img.png', tmp_path / 'img.png.npz'
    Image.fromarray(np.full((60, 80, 3), 128, np.uint8)).save(image)
    np.savez(npz, map=_halves())
    grid = tmp_path / 'grid.png'
    demo_lib.qualitative_grid([dict(title='a', image=str(image), mask=None,
                                    maps={'DP': str(npz)})], ['DP'], str(grid))
    _assert_rdbu_with_colour_bar(grid)


def test_large_panels_are_downscaled_to_1024():
    from dp_plugin.utils.forgery_figure import forgery_figure
    png = forgery_figure(np.zeros((3000, 1500, 3), np.uint8), np.zeros((3000, 1500)))
    height = Image.open(io.BytesIO(png)).size[1]
    assert height < 1024 + 200  # figure is 4.4 in tall at 100 dpi, not 3000 px


def test_no_other_module_renders_forgery_maps():
    """grep: only dp_plugin/utils/forgery_figure.py colourises maps (imshow with a cmap,
    OpenCV colour maps); tools/modality_map.py colours *modality* maps (viridis)."""
    pattern = re.compile(r'applyColorMap|COLORMAP_|\.imshow\(|cmap=')
    offenders = []
    for top in ('dp_plugin', 'tools', 'adapters'):
        for folder, _, files in os.walk(osp.join(REPO, top)):
            for name in files:
                path = osp.join(folder, name)
                renderer = path.endswith(osp.join('utils', 'forgery_figure.py'))
                if not name.endswith('.py') or renderer:
                    continue
                with open(path, encoding='utf-8') as fh:
                    if pattern.search(fh.read()):
                        offenders.append(osp.relpath(path, REPO))
    assert offenders == []
