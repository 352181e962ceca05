"""The only place the builder reads pixels from image files (BGR → RGB happens here).

Two kinds of errors, kept apart on purpose:

- :class:`DecodeError`: the file's *content* is unusable (empty, truncated, not an image,
  matte without an alpha channel). The sample is listed in failures.jsonl (stage "decode")
  and the build goes on; rerunning will not change it.
- ``OSError``: the file cannot be *read* (permission denied, vanished, I/O error). That is a
  fault of the environment: the shard is not written and a rerun retries it.
"""
from __future__ import annotations

import os

import cv2
import numpy as np


class DecodeError(ValueError):
    """An image file's content cannot be used; ``str()`` is one sentence naming the file."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path} {reason}")
        self.path = path
        self.reason = reason  # without the path, e.g. "is empty (0 bytes)"


def read_bytes(path: str) -> bytes:
    """The file's bytes (OSError when it cannot be read)."""
    with open(path, "rb") as handle:
        return handle.read()


def _check_complete(path: str, data: bytes) -> None:
    """Reject empty files and JPEG/PNG files that end before their end marker."""
    if not data:
        raise DecodeError(path, "is empty (0 bytes)")
    end = data.rfind(b"\xff\xd9")
    if data[:3] == b"\xff\xd8\xff" and (end < 0 or end < data.rfind(b"\xff\xda")):
        raise DecodeError(path, "is a truncated JPEG (it ends before its end-of-image marker)")
    end = data.rfind(b"IEND")  # bytes after IEND (appended by some tools) are fine
    if data[:8] == b"\x89PNG\r\n\x1a\n" and (end < 0 or end < data.rfind(b"IDAT")):
        raise DecodeError(path, "is a truncated PNG (it ends before its IEND chunk)")


def _decode(path: str, data: bytes) -> np.ndarray:
    _check_complete(path, data)
    try:
        array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # OpenCV raises (not None) e.g. for a header past its pixel limit
        why = ("its header claims more pixels than OpenCV decodes (2^30)"
               if "MAX_IMAGE_PIXELS" in str(exc) else "OpenCV rejected it")
        raise DecodeError(path, f"cannot be decoded: {why}; the file is corrupt or too large") from None
    if array is None or array.size == 0:
        raise DecodeError(path, "is not a readable JPEG or PNG image (corrupt, or not an image)")
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    if array.dtype != np.uint8:
        raise DecodeError(path, f"has unsupported pixel type {array.dtype} (expected 8 or 16 bit)")
    return array


def to_rgb(array: np.ndarray) -> np.ndarray:
    """Decoded OpenCV array (gray, BGR or BGRA, uint8) → RGB uint8 (H, W, 3)."""
    if array.ndim == 2:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    if array.shape[2] == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)


def decode_image(path: str) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3); any alpha channel is dropped."""
    return to_rgb(_decode(path, read_bytes(path)))


def decode_matte(path: str, layout: str) -> np.ndarray:
    """Read a matte as uint8 (H, W), 0 = background, 255 = foreground.

    ``layout="kaggle"``: the 4th channel of an RGBA PNG. ``layout="plain"``: a grayscale PNG
    (an RGB PNG whose three channels are equal is accepted too).
    """
    array = _decode(path, read_bytes(path))
    if layout == "kaggle":
        if array.ndim != 3 or array.shape[2] != 4:
            channels = 1 if array.ndim == 2 else array.shape[2]
            raise DecodeError(path, f"has no alpha channel ({channels} channel(s)); a Kaggle-layout "
                                    "matte must be an RGBA PNG whose 4th channel is the matte")
        return np.ascontiguousarray(array[:, :, 3])
    if array.ndim == 2:
        return array
    if array.shape[2] == 3 and (array[:, :, 0] == array[:, :, 1]).all() and (array[:, :, 1] == array[:, :, 2]).all():
        return np.ascontiguousarray(array[:, :, 0])
    raise DecodeError(path, f"is a {array.shape[2]}-channel colour image; a plain-layout matte "
                            "must be a grayscale PNG")


def decode_pair(src: str, image_rel: str, matte_rel: str, layout: str):
    """(image RGB (H, W, 3), matte (H', W')) of one source pair, paths relative to ``src``."""
    image = decode_image(os.path.join(src, image_rel))
    matte = decode_matte(os.path.join(src, matte_rel), layout)
    return image, matte


def decode_as_imread(path: str, grayscale: bool = False) -> np.ndarray:
    """Read an image as ``cv2.imread(path)`` (uint8 (H, W, 3), returned **RGB**) or
    ``cv2.imread(path, 0)`` (``grayscale``: uint8 (H, W)) do: any alpha channel dropped, gray
    files expanded to 3 channels, 16-bit reduced to 8, EXIF orientation applied — what the
    published matting composition code reads. DecodeError / OSError as :func:`decode_image`.
    """
    data = read_bytes(path)
    _check_complete(path, data)
    flag = cv2.IMREAD_GRAYSCALE if grayscale else cv2.IMREAD_COLOR
    try:
        array = cv2.imdecode(np.frombuffer(data, np.uint8), flag)
    except cv2.error:
        array = None
    if array is None or array.size == 0:
        raise DecodeError(path, "is not a readable JPEG or PNG image (corrupt, or not an image)")
    return array if grayscale else cv2.cvtColor(array, cv2.COLOR_BGR2RGB)


def decode_pil_resized(path: str, mode: str | None, size=None) -> np.ndarray:
    """Read an image as DoveNet's iHarmony4 loader does: PIL ``Image.open(path).convert(mode)``,
    then ``resize((W, H), BILINEAR)`` when ``size`` = (H, W) is given (what
    ``torchvision.transforms.functional.resize`` does on a PIL image).

    ``mode=None``: ``np.array(Image.open(path))`` as stored (IndexNet's test reader).
    ``mode="RGB"``: uint8 (H, W, 3) RGB. ``mode="1"``: a bilevel mask (PIL's default
    Floyd–Steinberg conversion, exact for 0/255 masks) as uint8 (H, W) in {0, 255}; Pillow
    resizes mode-"1" images with nearest-neighbour whatever filter is asked, so the mask stays
    binary. Raises DecodeError for unusable content, OSError when the file cannot be read.
    """
    import io

    from PIL import Image, UnidentifiedImageError

    data = read_bytes(path)
    _check_complete(path, data)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            image = opened.convert(mode) if mode else opened.copy()
        if size is not None and tuple(size) != (image.height, image.width):
            image = image.resize((int(size[1]), int(size[0])), Image.BILINEAR)
    except UnidentifiedImageError:
        raise DecodeError(path, "is not a readable image (corrupt, or not an image)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DecodeError(path, f"cannot be decoded ({first})") from None
    array = np.asarray(image)
    if mode == "1":
        return array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        raise DecodeError(path, f"has unsupported pixel type {array.dtype} (expected 8 bit)")
    return np.ascontiguousarray(array)
