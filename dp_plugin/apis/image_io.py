"""Robust image and mask reading plus atomic file writing.

:func:`read_image` turns anything a user may point a forensic tool at into an RGB
``uint8`` array, or raises :class:`ImageReadError` with one line that names the file
and says what was wrong and what was expected. The rules (documented in
``docs/localize.md``):

* the file content decides the format, not the extension;
* EXIF orientation is applied (the array is the image as a viewer shows it);
* grayscale, palette, CMYK and YCbCr images are converted to RGB, an alpha channel
  is dropped (pixel values are kept, never composited), 16-bit samples are reduced
  to 8 bits (``round(v / 257)``);
* images with more than ``max_pixels`` pixels are refused before decoding
  (decompression-bomb guard, default :data:`DEFAULT_MAX_PIXELS`);
* images whose shorter side is below ``min_size`` pixels are refused
  (default :data:`DEFAULT_MIN_SIZE`, the receptive field of the forensic extractors:
  a map of a smaller image carries no information);
* empty, truncated and corrupt files, non-images, unreadable files and symbolic-link
  loops raise :class:`ImageReadError` (a file with a known signature that does not decode
  is "corrupt PNG/JPEG/...", not "not an image");
* multi-frame files (multipage TIFF, animated GIF/PNG/WebP) use frame 0 and say so in the
  notes; an invalid EXIF orientation (not 1-8) is ignored and noted.

:func:`atomic_write` (re-exported from :mod:`dp_plugin.utils.atomic_io`) is how the
project's tools write outputs, so a crash never leaves a partial file.
"""
import errno
import os
import os.path as osp
import warnings
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from dp_plugin.utils.atomic_io import (TEMP_MARKER, atomic_write,  # noqa: F401
                                     remove_stale_temp_files)

#: Default pixel limit (width * height) of :func:`read_image`: 100 MPix.
DEFAULT_MAX_PIXELS = 100_000_000
#: Default minimum length of the shorter image side, in pixels.
DEFAULT_MIN_SIZE = 32
#: File extensions picked up when a folder is scanned (compared lower-case).
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.jpe', '.jfif', '.tif', '.tiff', '.bmp',
                    '.webp', '.gif', '.ppm', '.pgm', '.pbm', '.pnm')


class ImageReadError(ValueError):
    """An image (or mask) could not be used; ``str()`` is one line naming the file."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = str(path)
        self.reason = ' '.join(str(reason).split())  # always one line
        super().__init__(f'{self.path}: {self.reason}')


@dataclass
class ImageInfo:
    """What :func:`read_image` found and did, for reports."""

    format: Optional[str]
    mode: str
    notes: List[str] = field(default_factory=list)


#: Signatures of formats Pillow reads: a file that starts with one but does not open is
#: a corrupt file of that format, not "not an image".
_SIGNATURES = ((b'\x89PNG\r\n\x1a\n', 'PNG'), (b'\xff\xd8\xff', 'JPEG'), (b'GIF87a', 'GIF'),
               (b'GIF89a', 'GIF'), (b'II*\x00', 'TIFF'), (b'MM\x00*', 'TIFF'), (b'BM', 'BMP'))


def _describe_non_image(head: bytes) -> str:
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return f'corrupt {name}: the file starts like a {name} but cannot be decoded'
    if head[:4] == b'RIFF' and head[8:12] == b'WEBP':
        return 'corrupt WebP: the file starts like a WebP but cannot be decoded'
    text = head.lstrip(b'\xef\xbb\xbf').lstrip()
    if text[:1] == b'<':
        kind = 'HTML/XML text'
    elif text and all(32 <= c < 127 or c in b'\t\r\n' for c in text[:256]):
        kind = 'plain text'
    else:
        kind = f'unknown binary data (starts with {head[:8].hex()})'
    return f'not an image: the content looks like {kind}'


def _open_error(path: str, exc: OSError) -> ImageReadError:
    if isinstance(exc, PermissionError):
        return ImageReadError(path, 'permission denied (the file is not readable by '
                                    'this user)')
    if exc.errno == errno.ELOOP:
        return ImageReadError(path, 'symbolic link loop (too many levels of symbolic links)')
    if isinstance(exc, FileNotFoundError):
        if osp.islink(path):
            return ImageReadError(path, 'broken symbolic link (its target does not exist)')
        return ImageReadError(path, 'no such file')
    if isinstance(exc, IsADirectoryError):
        return ImageReadError(path, 'is a directory, expected an image file')
    return ImageReadError(path, f'cannot open: {exc.strerror or exc}')


def _to_rgb(img, path: str, info: ImageInfo) -> np.ndarray:
    """Convert an opened, loaded PIL image to an ``(H, W, 3)`` uint8 RGB array."""
    mode = img.mode
    if mode.startswith('I;16') or mode == 'I':
        arr = np.asarray(img)
        if mode == 'I' and arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise ImageReadError(path, f'32-bit integer samples outside 0..65535 '
                                       f'(mode {mode}); expected an 8- or 16-bit image')
        gray = np.rint(arr.astype(np.float32) / 257.0).astype(np.uint8)
        info.notes.append('16-bit samples reduced to 8 bits')
        return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2))
    if mode == 'F':
        raise ImageReadError(path, 'floating-point image (mode F) is not supported; '
                                   'expected 8- or 16-bit samples')
    if mode in ('RGBA', 'LA', 'PA', 'RGBa', 'La') or (
            mode == 'P' and 'transparency' in img.info):
        info.notes.append('alpha channel dropped')
    if mode in ('L', '1', 'LA', 'La'):
        info.notes.append('grayscale replicated to RGB')
    elif mode in ('P', 'PA'):
        info.notes.append('palette converted to RGB')
    elif mode in ('CMYK', 'YCbCr', 'LAB', 'HSV'):
        info.notes.append(f'{mode} converted to RGB')
    if mode == 'P' and 'transparency' in img.info:
        img = img.convert('RGBA')
    rgb = img if img.mode == 'RGB' else img.convert('RGB')
    return np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))


def read_image(path: str, max_pixels: Optional[int] = DEFAULT_MAX_PIXELS,
               min_size: int = DEFAULT_MIN_SIZE) -> Tuple[np.ndarray, ImageInfo]:
    """Read ``path`` as an ``(H, W, 3)`` uint8 RGB array (see the module docstring).

    Args:
        path: Image file.
        max_pixels: Refuse images with more pixels (``None``: no limit of ours;
            Pillow's own bomb guard at ~179 MPix still applies).
        min_size: Refuse images whose shorter side is smaller (0: accept any).

    Returns:
        ``(rgb, info)``.

    Raises:
        ImageReadError: With a one-line reason.
    """
    from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

    path = str(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _open_error(path, exc) from None
    if osp.isdir(path):
        raise ImageReadError(path, 'is a directory, expected an image file')
    if not osp.isfile(path):
        raise ImageReadError(path, 'not a regular file, expected an image file')
    if st.st_size == 0:
        raise ImageReadError(path, 'empty file (0 bytes), expected an image')
    try:
        fh = open(path, 'rb')
    except OSError as exc:
        raise _open_error(path, exc) from None
    with fh, warnings.catch_warnings():
        warnings.simplefilter('ignore', Image.DecompressionBombWarning)
        try:
            img = Image.open(fh)
        except UnidentifiedImageError:
            fh.seek(0)
            raise ImageReadError(path, _describe_non_image(fh.read(512))) from None
        except Image.DecompressionBombError as exc:
            raise ImageReadError(path, f'refused as a possible decompression bomb: {exc}') \
                from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageReadError(path, f'corrupt image header: {exc}') from None
        with img:
            width, height = img.size
            if max_pixels is not None and width * height > max_pixels:
                raise ImageReadError(
                    path, f'{width}x{height} = {width * height / 1e6:.1f} MPix exceeds the '
                          f'limit of {max_pixels / 1e6:g} MPix (--max-mpix); refused as a '
                          f'possible decompression bomb')
            info = ImageInfo(format=img.format, mode=img.mode)
            frames = getattr(img, 'n_frames', 1)
            if frames > 1:
                info.notes.append(f'frame 0 of {frames} used ({img.format} with several '
                                  f'frames)')
            if img.mode == 'RGB' and any(';16' in str(t[3]) for t in img.tile or ()):
                info.notes.append('16-bit samples reduced to 8 bits')
            if ImageFile.LOAD_TRUNCATED_IMAGES:
                # Another library switched Pillow to silently fill truncated images.
                raise ImageReadError(path, 'PIL.ImageFile.LOAD_TRUNCATED_IMAGES is set; '
                                           'truncated images cannot be detected')
            try:
                img.load()
            except OSError as exc:
                raise ImageReadError(path, f'truncated or corrupt image data ({exc})') \
                    from None
            except (SyntaxError, ValueError, EOFError) as exc:
                raise ImageReadError(path, f'corrupt image data ({exc})') from None
            orientation = img.getexif().get(0x0112, 1)
            if orientation in (2, 3, 4, 5, 6, 7, 8):
                img = ImageOps.exif_transpose(img)
                info.notes.append(f'EXIF orientation {orientation} applied')
            elif orientation not in (None, 1):
                info.notes.append(f'invalid EXIF orientation {orientation} ignored (valid: '
                                  f'1-8)')
            rgb = _to_rgb(img, path, info)
    if min(rgb.shape[:2]) < min_size:
        raise ImageReadError(path, f'image is {rgb.shape[1]}x{rgb.shape[0]} px, smaller than '
                                   f'the {min_size} px minimum side (--min-size)')
    return rgb, info


def read_mask(path: str, expected_hw: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """Read a ground-truth mask as a ``(H, W)`` uint8 array, 1 = forged (non-zero).

    Colour masks count a pixel as forged when any channel is non-zero. A mask whose
    size differs from ``expected_hw`` is an error (never silently resized/rotated).

    Raises:
        ImageReadError: Unreadable mask or size mismatch.
    """
    arr, _ = read_image(path, max_pixels=DEFAULT_MAX_PIXELS, min_size=0)
    mask = (arr.max(axis=2) > 0).astype(np.uint8)
    if expected_hw is not None and tuple(mask.shape) != tuple(expected_hw):
        raise ImageReadError(path, f'mask is {mask.shape[1]}x{mask.shape[0]} px but its '
                                   f'image is {expected_hw[1]}x{expected_hw[0]} px; '
                                   f'expected the same size')
    return mask


    return True
