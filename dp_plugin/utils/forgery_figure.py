"""The one renderer of forgery maps (dp-localize, ``tools/test.py --show-dir``, the demo).

One colour convention everywhere:

* the map is drawn in :data:`MAP_CMAP` (``RdBu_r``: 0 blue, 0.5 white, 1 red) on the
  fixed range :data:`MAP_RANGE` = [0, 1], with a colour bar;
* the overlay tints the image red in proportion to the map
  (``rgb * (1 - a) + red * a`` with ``a = OVERLAY_ALPHA * map``) and outlines
  ``map > threshold`` in yellow;
* the ground truth, when known, is white (forged) on black, ignored pixels grey;
* each panel is area-downscaled to at most :data:`PANEL_MAX_SIDE` px (the full-resolution
  map lives in the ``.npz``); the figure title carries the score, a caption the metrics.

Figures are drawn on a matplotlib Agg canvas (no display, no global backend change) and
returned as PNG bytes for the caller to write atomically.
"""
import io
from typing import Mapping, Optional, Sequence

import numpy as np

#: Colour map of every forgery-map panel, on the fixed range :data:`MAP_RANGE`.
MAP_CMAP = 'RdBu_r'
MAP_RANGE = (0.0, 1.0)
#: Largest red weight of the overlay (reached where the map is 1).
OVERLAY_ALPHA = 0.6
#: Longest side of each panel.
PANEL_MAX_SIDE = 1024


def _resize(arr: np.ndarray, size: tuple, nearest: bool = False) -> np.ndarray:
    """``arr`` resized to ``size`` = (width, height): BOX (area) or NEAREST."""
    from PIL import Image
    if arr.shape[1::-1] == tuple(size):
        return arr
    method = Image.Resampling.NEAREST if nearest else Image.Resampling.BOX
    if arr.dtype == np.uint8:
        return np.asarray(Image.fromarray(arr).resize(size, method))
    return np.asarray(Image.fromarray(arr.astype(np.float32), mode='F').resize(size, method))


def _fit(arr: np.ndarray, max_side: int, nearest: bool = False) -> np.ndarray:
    """Downscale so the longest side is at most ``max_side`` (never upscale)."""
    height, width = arr.shape[:2]
    factor = max(height, width) / max_side
    if factor <= 1:
        return arr
    return _resize(arr, (max(1, round(width / factor)), max(1, round(height / factor))), nearest)


def map_colours(prob: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of a map in :data:`MAP_CMAP` on :data:`MAP_RANGE`."""
    import matplotlib
    norm = np.clip((np.nan_to_num(np.asarray(prob, np.float64), nan=0.0) - MAP_RANGE[0])
                   / (MAP_RANGE[1] - MAP_RANGE[0]), 0.0, 1.0)
    return (matplotlib.colormaps[MAP_CMAP](norm)[..., :3] * 255).round().astype(np.uint8)


def overlay_colours(rgb: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """The image tinted red in proportion to the map (same shapes, uint8 RGB)."""
    alpha = (OVERLAY_ALPHA * np.clip(np.nan_to_num(prob, nan=0.0), 0, 1))[..., None]
    tinted = rgb.astype(np.float32) * (1 - alpha) + np.array([255, 0, 0], np.float32) * alpha
    return tinted.round().clip(0, 255).astype(np.uint8)


def truth_colours(gt: np.ndarray, ignore_index: Optional[int] = None) -> np.ndarray:
    """uint8 grey panel of a mask: non-zero = forged (255), ``ignore_index`` grey (128)."""
    gt = np.asarray(gt)
    panel = np.where(gt > 0, 255, 0)
    if ignore_index is not None:
        panel = np.where(gt == ignore_index, 128, panel)
    return panel.astype(np.uint8)


def _colour_bar(fig, axes) -> None:
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    mappable = ScalarMappable(Normalize(*MAP_RANGE), MAP_CMAP)
    fig.colorbar(mappable, ax=axes, fraction=0.046, pad=0.04)


def _wrap(caption: str, chars: int) -> str:
    """``' | '``-separated items, as many per line as fit in ``chars`` characters."""
    lines, line = [], ''
    for item in caption.split(' | '):
        joined = f'{line} | {item}' if line else item
        if line and len(joined) > chars:
            lines.append(line)
            joined = item
        line = joined
    return '\n'.join(lines + [line])


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', bbox_inches='tight', dpi=100)
    return buffer.getvalue()


def forgery_figure(rgb: np.ndarray, prob: np.ndarray, threshold: float = 0.5,
                   conf: Optional[np.ndarray] = None, score: Optional[float] = None,
                   title: str = '', caption: Optional[str] = None,
                   gt: Optional[np.ndarray] = None, ignore_index: Optional[int] = None,
                   max_side: int = PANEL_MAX_SIDE) -> bytes:
    """PNG bytes of ``image | (ground truth |) map | overlay (| confidence)``.

    Args:
        rgb: ``(H', W', 3)`` uint8 image (resized to the map's size when it differs).
        prob: ``(H, W)`` forgery map in [0, 1].
        threshold: Level of the outline drawn on the overlay.
        conf: Optional ``(H, W)`` confidence map in [0, 1] (grey, own colour bar).
        score: Optional image score, appended to the title.
        title: Figure title.
        caption: Optional metrics line(s) under the title (``' | '``-separated items).
        gt: Optional mask, non-zero = forged (resized to the map, nearest).
        ignore_index: Label of ``gt`` shown grey (not scored).
        max_side: Longest side of each panel.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    prob = np.asarray(prob, np.float32)
    size = prob.shape[::-1]
    heat = np.clip(np.nan_to_num(_fit(prob, max_side), nan=0.0), 0, 1)
    img = _fit(_resize(np.asarray(rgb, np.uint8), size), max_side)
    panels = [('image', img)]
    if gt is not None:
        truth = truth_colours(_resize(np.asarray(gt).astype(np.int32), size, nearest=True),
                              ignore_index)
        panels.append(('ground truth', np.repeat(_fit(truth, max_side, True)[..., None], 3, 2)))
    panels += [('forgery map', map_colours(heat)),
               (f'overlay (map > {threshold:g})', overlay_colours(img, heat))]
    if conf is not None:
        panels.append(('confidence', np.clip(_fit(np.asarray(conf, np.float32), max_side), 0, 1)))
    aspect = img.shape[1] / img.shape[0]
    fig = Figure(figsize=(min(4.0 * aspect, 8.0) * len(panels) + 1.0, 4.4), dpi=100)
    FigureCanvasAgg(fig)
    axes = list(fig.subplots(1, len(panels), squeeze=True))
    for ax, (name, picture) in zip(axes, panels):
        if name == 'confidence':
            shown = ax.imshow(picture, cmap='gray', vmin=0, vmax=1, interpolation='nearest')
            fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
        else:
            ax.imshow(picture, interpolation='nearest')
        if name == 'forgery map':
            _colour_bar(fig, ax)
        if name.startswith('overlay') and heat.max() > threshold > heat.min():
            ax.contour(heat > threshold, levels=[0.5], colors='yellow', linewidths=0.8)
        ax.set_title(name)
        ax.set_axis_off()
    heading = f'{title}   score {score:.3f}'.strip() if score is not None else title
    if caption:
        wrapped = _wrap(caption, int(fig.get_figwidth() * 100 / 7))
        heading = f'{heading}\n{wrapped}' if heading else wrapped
    if heading:
        fig.suptitle(heading, fontsize=10)
    return _png(fig)


def forgery_grid(rows: Sequence[Mapping], columns: Sequence[str],
                 max_side: int = 256) -> bytes:
    """PNG bytes of a Figure-4-style grid: one row per image, ``input | ground truth |
    one map per column``, maps in :data:`MAP_CMAP` on [0, 1] with one shared colour bar.

    Args:
        rows: ``{'title', 'image': (H, W, 3) uint8, 'gt': mask or None,
            'maps': {column: (H, W) map or None}}``; missing panels stay empty.
        columns: Column order of the maps.
        max_side: Longest side of each panel.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    cols = 2 + len(columns)
    fig = Figure(figsize=(2.2 * cols + 0.6, 2.2 * len(rows) + 0.4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for r, row in enumerate(rows):
        img = np.asarray(row['image'], np.uint8)
        size = img.shape[1::-1]
        axes[r, 0].imshow(_fit(img, max_side), interpolation='nearest')
        axes[r, 0].set_ylabel(row.get('title', ''), fontsize=7)
        if row.get('gt') is not None:
            truth = truth_colours(_resize(np.asarray(row['gt']).astype(np.int32), size, True))
            axes[r, 1].imshow(np.repeat(_fit(truth, max_side, True)[..., None], 3, 2),
                              interpolation='nearest')
        for c, column in enumerate(columns):
            prob = (row.get('maps') or {}).get(column)
            if prob is not None:
                heat = _fit(np.asarray(prob, np.float32), max_side)
                axes[r, 2 + c].imshow(map_colours(heat), interpolation='nearest')
        for c, name in enumerate(['input', 'ground truth', *columns]):
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(name, fontsize=9)
    _colour_bar(fig, list(axes[:, 2:].ravel()) if columns else list(axes.ravel()))
    return _png(fig)
