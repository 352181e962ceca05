"""Image files in and out for inference: decode to RGB / gray uint8, encode by extension.

Pixels are read with ``hmh_builder.imageio`` (RGB uint8 (H, W, 3); grayscale PNG, equal-channel
RGB or an RGBA PNG's alpha for mattes, trimaps and masks) and written by extension (.png
lossless, .jpg/.jpeg quality 95, .webp, .bmp) after converting RGB → BGR here, once. Every
problem is a ``CompositeError`` whose message is one line naming the file.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from hmh_builder.imageio import DEFAULT_MAX_PIXELS, DecodeError, decode_image, decode_matte, read_header

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
TRIMAP_VALUES = (0, 128, 255)


class CompositeError(ValueError):
    """A problem with one input or output file; the message is one line naming it."""


def check_pixels(path: str, max_pixels: int | None) -> None:
    """CompositeError naming ``path`` when its header claims more than ``max_pixels`` pixels;
    only the header is read (no pixels decoded). None: no limit."""
    if max_pixels is None:
        return
    header = read_header(path, None)
    if header.pixels > max_pixels:
        raise CompositeError(
            f"{path} is {header.width}×{header.height} = {header.pixels:,} pixels, above the "
            f"limit of {max_pixels:,} (--max-pixels); it was not decoded"
        )


def read_rgb(path: str, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """uint8 RGB (H, W, 3) of an image file; CompositeError naming the file otherwise, and
    before any decoding when its header claims more than ``max_pixels`` pixels."""
    try:
        check_pixels(path, max_pixels)
        return decode_image(path, max_pixels)
    except DecodeError as exc:
        raise CompositeError(str(exc)) from None
    except OSError as exc:
        raise CompositeError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def read_gray(path: str, shape: tuple, what: str) -> np.ndarray:
    """uint8 (H, W) matte-like file of the portrait's size ``shape``: a grayscale PNG (or equal-
    channel RGB), or the alpha channel of an RGBA PNG; CompositeError naming the file otherwise."""
    try:
        try:
            gray = decode_matte(path, "plain")
        except DecodeError as plain_error:
            try:  # an RGBA PNG (AISegment's matte format): use its alpha channel
                gray = decode_matte(path, "kaggle")
            except DecodeError:
                raise plain_error from None
    except DecodeError as exc:
        raise CompositeError(str(exc)) from None
    except OSError as exc:
        raise CompositeError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if gray.shape != tuple(shape):
        raise CompositeError(
            f"{path}: {what} is {gray.shape[1]}×{gray.shape[0]} but the image is "
            f"{shape[1]}×{shape[0]} (width×height); they must match"
        )
    return gray


def output_type(path: str) -> str:
    """The lower-case extension of an output path; CompositeError when it is not one we write."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in IMAGE_EXTENSIONS:
        raise CompositeError(
            f"{path}: unknown output type {ext or '(none)'}; use one of {', '.join(IMAGE_EXTENSIONS)}"
        )
    return ext


def write_image(path: str, image: np.ndarray) -> None:
    """Write uint8 RGB (H, W, 3) or gray (H, W) by extension (PNG lossless, JPEG quality 95);
    CompositeError for an unknown extension."""
    ext = output_type(path)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext in (".jpg", ".jpeg") else []
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, data = cv2.imencode(ext, pixels, params)
    if not ok:
        raise CompositeError(f"{path}: could not encode the image")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data.tobytes())


def check_trimap(trimap: np.ndarray, where: str) -> np.ndarray:
    """``trimap`` (uint8 (H, W)) if its values are only 0, 128, 255 (IndexNet's demo treats
    exactly 128 as unknown and copies every other value into the alpha); CompositeError naming
    ``where`` (the file) otherwise."""
    odd = np.setdiff1d(np.unique(trimap), TRIMAP_VALUES)
    if odd.size:
        raise CompositeError(
            f"{where}: trimap has values other than 0, 128, 255 (e.g. {odd[0]}); "
            "save it losslessly (PNG) with exactly these three values"
        )
    return trimap


def read_trimap(path: str, shape) -> np.ndarray:
    """uint8 (H, W) trimap file of the image's ``shape`` with values in {0, 128, 255} only;
    CompositeError otherwise."""
    return check_trimap(read_gray(path, shape, "trimap"), path)
