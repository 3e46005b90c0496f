"""A corpus of good, awkward and broken inputs for testing forensic tools.

``make_bad_input_corpus(root)`` writes ``root/images/`` (what a user points the tool
at), ``root/masks/`` (ground truth for ``--masks``, one of the wrong size) and
``root/expected.json``: for every input path relative to ``root/images`` whether a
robust tool must process it (``"ok"``, with the expected ``[height, width]``) or
report it (``"error"``, with a fragment of the expected message); ``"note"`` is a
fragment the reader's notes must contain. Names include one that is not valid UTF-8
(held as Python's ``surrogateescape`` string) and one of 240 characters (its outputs'
names are legal, 252 characters, but longer temporary names would not be).
"""
import io
import json
import os
import os.path as osp
import struct
import zlib
from typing import Dict

import numpy as np

#: Side of the regular test images (>= the default 32 px minimum).
SIZE = 64


def _pattern(height: int, width: int, seed: int) -> np.ndarray:
    """A textured RGB uint8 image (smooth gradient plus noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1),
                     (xx + yy) * 127 // max(height + width - 2, 1)], axis=2)
    noise = rng.integers(-20, 21, size=(height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack('>I', len(data)) + kind + data
            + struct.pack('>I', zlib.crc32(kind + data) & 0xFFFFFFFF))


def write_png_bomb(path: str, width: int = 12_000, height: int = 12_000) -> None:
    """A valid, tiny (~150 kB) grayscale PNG that decodes to ``width * height`` pixels."""
    compressor = zlib.compressobj(9)
    row = b'\x00' * (width + 1)  # filter byte + black pixels
    body = b''.join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0)
    with open(path, 'wb') as fh:
        fh.write(b'\x89PNG\r\n\x1a\n' + _png_chunk(b'IHDR', header)
                 + _png_chunk(b'IDAT', body) + _png_chunk(b'IEND', b''))


def _encoded(img, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def make_bad_input_corpus(root: str) -> Dict[str, dict]:
    """Write the corpus under ``root`` and return the expectations (also in
    ``root/expected.json``)."""
    import cv2
    from PIL import Image

    images, masks = osp.join(root, 'images'), osp.join(root, 'masks')
    os.makedirs(images, exist_ok=True)
    os.makedirs(masks, exist_ok=True)
    expected: Dict[str, dict] = {}
    rgb = _pattern(SIZE, SIZE, 0)
    png = _encoded(Image.fromarray(rgb), 'PNG')
    jpeg = _encoded(Image.fromarray(rgb), 'JPEG', quality=90)

    def put(name: str, data: bytes, outcome: str, **extra) -> str:
        path = osp.join(images, name)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'wb') as fh:
            fh.write(data)
        expected[name] = dict(outcome=outcome, **extra)
        return path

    ok = dict(shape=[SIZE, SIZE])
    put('good_rgb.png', png, 'ok', **ok)
    put('good.jpg', jpeg, 'ok', **ok)
    put('sub/dir/Upper Case, ünïcode.PNG', png, 'ok', **ok)
    put('zero_byte.png', b'', 'error', message='empty file')
    put('truncated.png', png[:len(png) // 2], 'error', message='truncated')
    put('truncated.jpg', jpeg[:len(jpeg) // 2], 'error', message='truncated')
    put('png_named_as.jpg', png, 'ok', **ok)  # wrong extension: the content decides
    put('text_named_as.jpg', b'Just some notes, not a picture.\n' * 4, 'error',
        message='plain text')
    put('html_named_as.png', b'<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n',
        'error', message='HTML')
    gray16 = (_pattern(SIZE, SIZE, 1)[..., 0].astype(np.uint16) * 257)
    put('gray16.png', _encoded(Image.fromarray(gray16), 'PNG'), 'ok', **ok)
    ok16, rgb16 = cv2.imencode('.png', (rgb[..., ::-1].astype(np.uint16) * 257))
    assert ok16, 'OpenCV cannot encode a 16-bit PNG'
    put('rgb16.png', rgb16.tobytes(), 'ok', **ok)
    put('gray.png', _encoded(Image.fromarray(rgb[..., 1]), 'PNG'), 'ok', **ok)
    put('palette.png', _encoded(Image.fromarray(rgb).quantize(64), 'PNG'), 'ok', **ok)
    put('palette.gif', _encoded(Image.fromarray(rgb).quantize(64), 'GIF'), 'ok', **ok)
    rgba = np.dstack([rgb, np.full((SIZE, SIZE), 128, np.uint8)])
    put('rgba.png', _encoded(Image.fromarray(rgba), 'PNG'), 'ok', **ok)
    put('cmyk.jpg', _encoded(Image.fromarray(rgb).convert('CMYK'), 'JPEG', quality=95),
        'ok', **ok)
    wide = Image.fromarray(_pattern(SIZE, SIZE + 32, 2))  # stored 96 wide, 64 high
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    put('exif_rotated.jpg', _encoded(wide, 'JPEG', exif=exif.tobytes()), 'ok',
        shape=[SIZE + 32, SIZE])
    put('tiny_16x16.png', _encoded(Image.fromarray(_pattern(16, 16, 3)), 'PNG'), 'error',
        message='minimum side')
    put('thin_500x8.png', _encoded(Image.fromarray(_pattern(8, 500, 4)), 'PNG'), 'error',
        message='minimum side')
    write_png_bomb(osp.join(images, 'bomb_12000x12000.png'))
    expected['bomb_12000x12000.png'] = dict(outcome='error', message='decompression bomb')
    unreadable = put('no_read_permission.png', png, 'ok', **ok)
    os.chmod(unreadable, 0)
    if os.geteuid() != 0:  # root reads anything: then the file is simply processed
        expected['no_read_permission.png'] = dict(outcome='error', message='permission')
    loop_dir = osp.join(images, 'loop')
    os.makedirs(loop_dir, exist_ok=True)
    os.symlink('..', osp.join(loop_dir, 'back_to_images'))  # folder loop
    os.symlink('self_loop.png', osp.join(loop_dir, 'self_loop.png'))  # file loop
    expected['loop/self_loop.png'] = dict(outcome='error', message='symbolic link loop')
    os.symlink('does_not_exist.png', osp.join(images, 'dangling_link.png'))
    expected['dangling_link.png'] = dict(outcome='error', message='broken symbolic link')
    frames = [Image.fromarray(_pattern(SIZE, SIZE, 10 + i)) for i in range(3)]
    put('multipage.tif', _encoded(frames[0], 'TIFF', save_all=True,
                                  append_images=frames[1:]), 'ok', note='frame 0 of 3 used', **ok)
    put('animated.gif', _encoded(frames[0].quantize(64), 'GIF', save_all=True,
                                 append_images=[f.quantize(64) for f in frames[1:]],
                                 duration=100, loop=0), 'ok', note='frame 0 of 3 used', **ok)
    put('corrupt_signature.png', png[:8] + bytes(range(256)) * 2, 'error',
        message='corrupt PNG')
    bad_exif = Image.Exif()
    bad_exif[0x0112] = 42  # not an orientation (valid: 1-8)
    put('exif_orientation_42.jpg', _encoded(Image.fromarray(rgb), 'JPEG',
                                            exif=bad_exif.tobytes()), 'ok',
        note='invalid EXIF orientation 42 ignored', **ok)
    put(os.fsdecode(b'latin1_\xe9t\xe9.png'), png, 'ok', **ok)  # not valid UTF-8
    put('long_' + 'n' * 231 + '.png', png, 'ok', **ok)  # 240 characters
    if hasattr(os, 'mkfifo'):  # opening it would block a reader for ever
        os.mkfifo(osp.join(images, 'named_pipe.png'))
        expected['named_pipe.png'] = dict(outcome='error', message='not a regular file')
    with open(osp.join(images, 'README.txt'), 'w') as fh:
        fh.write('Files without an image extension are not picked up from folders.\n')

    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[16:48, 16:48] = 255
    Image.fromarray(mask).save(osp.join(masks, 'good_rgb.png'))
    Image.fromarray(mask[:40]).save(osp.join(masks, 'good.png'))  # wrong size
    expected['good.jpg'].update(mask_outcome='error', mask_message='expected the same size')
    expected['good_rgb.png'].update(mask_outcome='ok')
    with open(osp.join(root, 'expected.json'), 'w') as fh:
        json.dump(expected, fh, indent=1)  # ASCII escapes keep the non-UTF-8 name
    return expected
