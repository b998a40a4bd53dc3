"""Reading screenshots safely: the one image reader both stages use.

The pixel count is read from the file's header (Pillow) and checked *before* decoding, so a
small file that decodes to gigabytes (a decompression bomb: a 96 kB PNG of 10000 x 10000)
is refused without allocating it. Pixels are decoded by OpenCV as stored (an EXIF rotation
would no longer match the header size or the boxes measured on the screenshot) and
converted to 8-bit RGB (grey, alpha, palette and 16-bit images included). The file size is
checked before anything is read: no real screenshot of `max_pixels` is larger than its raw
16-bit RGBA pixels plus room for metadata (`max_file_bytes`).
"""
from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

DEFAULT_MAX_PIXELS = 40_000_000
METADATA_ALLOWANCE = 16 << 20  # EXIF, ICC profiles, text chunks


class ImageError(ValueError):
    """An image that cannot be used; ``reason`` is a short code, the message names the file."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def max_file_bytes(max_pixels: int) -> int:
    """The largest image file accepted for `max_pixels`: raw 16-bit RGBA pixels plus metadata."""
    return max_pixels * 8 + METADATA_ALLOWANCE


def read_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode to RGB uint8, checking the file size and the header's pixel count before decoding."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageError("missing_image", f"{path}: no such file") from None
    except OSError as e:
        raise ImageError("unreadable_image", f"{path}: cannot read ({type(e).__name__}: {e.strerror})") from None
    if size > max_file_bytes(max_pixels):
        raise ImageError("image_too_large", f"{path}: {size} bytes, larger than any image of {max_pixels} pixels "
                                            f"({max_file_bytes(max_pixels)} bytes at most); not read")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # max_pixels decides below
            with Image.open(path) as im:
                w, h = im.size
    except Image.DecompressionBombError as e:  # a header past Pillow's own hard limit: a bomb, not a bad file
        raise ImageError("image_too_large", f"{path}: {e} (above the limit of {max_pixels})") from None
    except FileNotFoundError:
        raise ImageError("missing_image", f"{path}: no such file") from None
    except Exception as e:  # noqa: BLE001 - PIL raises many types for bad files
        raise ImageError("unreadable_image", f"{path}: not a readable image ({type(e).__name__}: {e})") from None
    if w * h > max_pixels:
        raise ImageError("image_too_large", f"{path}: {w}x{h} = {w * h} pixels, above the limit of {max_pixels}")
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as e:
        raise ImageError("unreadable_image", f"{path}: cannot read ({type(e).__name__}: {e})") from None
    # straight to RGB: the same pixels as BGR + cvtColor, without a pass over a 1280 x 4000 page
    arr = cv2.imdecode(data, cv2.IMREAD_COLOR_RGB | cv2.IMREAD_IGNORE_ORIENTATION)
    if arr is None or arr.shape[:2] != (h, w):
        raise ImageError("unreadable_image", f"{path}: image data does not decode (truncated or corrupt)")
    return arr
