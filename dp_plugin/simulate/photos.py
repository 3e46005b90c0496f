"""Authentic photographs bundled with scikit-image, and random crops of them."""
import os.path as osp
from functools import lru_cache
from typing import Dict, Tuple

import numpy as np

#: colour photographs shipped inside the scikit-image wheel (see docs/simulator.md).
PHOTOS: Tuple[str, ...] = ('astronaut.png', 'chelsea.png', 'coffee.png', 'rocket.jpg', 'retina.jpg',
                           'hubble_deep_field.jpg', 'motorcycle_left.png', 'motorcycle_right.png',
                           'ihc.png')
#: split by source photograph, so no photo is shared between splits of the localization set
#: (the stereo pair stays together).
PHOTO_SPLITS: Dict[str, Tuple[str, ...]] = {
    'training': ('astronaut.png', 'rocket.jpg', 'hubble_deep_field.jpg', 'motorcycle_left.png',
                 'motorcycle_right.png', 'ihc.png'),
    'validation': ('retina.jpg',),
    'testing': ('chelsea.png', 'coffee.png'),
}


@lru_cache(maxsize=None)
def load_photo(name: str) -> np.ndarray:
    """An RGB uint8 ``(H,W,3)`` photo from ``skimage/data``."""
    import skimage.data
    from PIL import Image
    path = osp.join(skimage.data.data_dir, name)
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: bundled scikit-image photo missing (scikit-image==0.26 expected)')
    with Image.open(path) as im:
        arr = np.asarray(im.convert('RGB'))
    arr.setflags(write=False)
    return arr


def random_crop(rng: np.random.Generator, size: int, photos=PHOTOS,
                scale_range: Tuple[float, float] = (0.5, 1.0)) -> Tuple[np.ndarray, dict]:
    """A ``size x size`` RGB uint8 crop of a random photo, randomly rescaled and flipped.

    The rescale factor is drawn in ``scale_range`` (clipped so the crop fits); downscaling
    uses Lanczos resampling. Returns the crop and a dict describing how it was made.
    """
    from PIL import Image
    name = photos[int(rng.integers(len(photos)))]
    photo = load_photo(name)
    h, w = photo.shape[:2]
    lo = max(scale_range[0], size / min(h, w))
    scale = float(rng.uniform(lo, max(lo, scale_range[1])))
    src = min(min(h, w), int(round(size / scale)))  # side of the source window
    top, left = int(rng.integers(h - src + 1)), int(rng.integers(w - src + 1))
    crop = photo[top:top + src, left:left + src]
    if src != size:
        crop = np.asarray(Image.fromarray(crop).resize((size, size), Image.LANCZOS))
    hflip, vflip = bool(rng.integers(2)), bool(rng.integers(2))
    if hflip:
        crop = crop[:, ::-1]
    if vflip:
        crop = crop[::-1]
    info = dict(photo=name, scale=round(scale, 4), top=top, left=left, hflip=hflip, vflip=vflip)
    return np.ascontiguousarray(crop), info
