"""Heat-map figures of forgery maps (matplotlib, Agg canvas; no global backend change)."""
import io
from typing import Optional

import numpy as np

#: Longest side of each panel of the overlay figure (the full-resolution map is in the
#: ``.npz`` and the mask PNG; the figure is for looking at).
PANEL_MAX_SIDE = 1024


def _downscale(arr: np.ndarray, max_side: int) -> np.ndarray:
    """Area-downscale an ``(H, W)`` or ``(H, W, 3)`` array so its longest side fits."""
    from PIL import Image
    height, width = arr.shape[:2]
    factor = max(height, width) / max_side
    if factor <= 1:
        return arr
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    if arr.dtype == np.uint8:
        return np.asarray(Image.fromarray(arr).resize(size, Image.Resampling.BOX))
    return np.asarray(Image.fromarray(arr.astype(np.float32), mode='F').resize(
        size, Image.Resampling.BOX))


def render_overlay(rgb: np.ndarray, prob: np.ndarray, threshold: float = 0.5,
                   conf: Optional[np.ndarray] = None, score: Optional[float] = None,
                   title: str = '', max_side: int = PANEL_MAX_SIDE,
                   gt: Optional[np.ndarray] = None) -> bytes:
    """PNG bytes of ``image | (ground truth |) map | overlay (| confidence)``.

    The ground-truth panel (when ``gt``, an ``(H, W)`` mask with non-zero = forged, is
    given) is white on black beside the map, as in upstream TruFor's ``visualize.py``.
    The map panel uses ``RdBu_r`` on [0, 1] with a colour bar; the overlay tints the
    image red in proportion to the map and outlines the thresholded region.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    img = _downscale(rgb, max_side)
    heat = np.clip(_downscale(prob, max_side), 0, 1)
    panels = 3 + (gt is not None) + (conf is not None)
    aspect = img.shape[1] / img.shape[0]
    fig = Figure(figsize=(min(4.0 * aspect, 8.0) * panels + 1.0, 4.4), dpi=100)
    FigureCanvasAgg(fig)
    panel_axes = list(fig.subplots(1, panels, squeeze=True))
    axes = list(panel_axes)
    ax = axes.pop(0)
    ax.imshow(img)
    ax.set_title('image')
    if gt is not None:
        ax = axes.pop(0)
        ax.imshow(_downscale((np.asarray(gt) > 0).astype(np.uint8) * 255, max_side),
                  cmap='gray', vmin=0, vmax=255, interpolation='nearest')
        ax.set_title('ground truth')
    ax = axes.pop(0)
    shown = ax.imshow(heat, cmap='RdBu_r', vmin=0, vmax=1, interpolation='nearest')
    ax.set_title('forgery map')
    fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    alpha = (0.6 * heat)[..., None]
    tinted = img.astype(np.float32) * (1 - alpha) + np.array([255, 0, 0]) * alpha
    ax = axes.pop(0)
    ax.imshow(tinted.clip(0, 255).astype(np.uint8))
    if heat.max() > threshold > heat.min():
        ax.contour(heat > threshold, levels=[0.5], colors='yellow', linewidths=0.8)
    ax.set_title(f'overlay (map > {threshold:g})')
    if conf is not None:
        ax = axes.pop(0)
        shown = ax.imshow(np.clip(_downscale(conf, max_side), 0, 1), cmap='gray',
                          vmin=0, vmax=1)
        ax.set_title('confidence')
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.04)
    for ax in panel_axes:
        ax.set_axis_off()
    heading = title
    if score is not None:
        heading = f'{heading}   score {score:.3f}'.strip()
    if heading:
        fig.suptitle(heading, fontsize=10)
    buffer = io.BytesIO()
    fig.savefig(buffer, format='png', bbox_inches='tight')
    return buffer.getvalue()
