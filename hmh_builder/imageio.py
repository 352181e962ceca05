"""The only place the builder reads pixels from image files (BGR → RGB happens here).

Two kinds of errors, kept apart on purpose:

- :class:`DecodeError`: the file's *content* is unusable (empty, truncated, not an image,
  matte without an alpha channel). The sample is listed in failures.jsonl (stage "decode")
  and the build goes on; rerunning will not change it.
- ``OSError``: the file cannot be *read* (permission denied, vanished, I/O error). That is a
  fault of the environment: the shard is not written and a rerun retries it.

Every decode reads the file's header first (:func:`read_header`: a few hundred bytes, no
pixels) and refuses, without decoding, a file whose header claims more than ``max_pixels``
pixels (so a 1.5 MB PNG announcing 20000×20000 cannot make a worker allocate gigabytes) or,
when ``formats`` is given (the builder passes READ_FORMATS), a file of another format, naming it.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import BinaryIO

import cv2
import numpy as np

from hmh_builder.fsio import first_line

#: Default pixel limit of a decoded image or matte (``hmh-build --max-pixels``): 50 MP, 100×
#: an AISegment portrait (600×800) and above a 48 MP phone photo; decoding one takes ~150 MB
#: per copy.
DEFAULT_MAX_PIXELS = 50_000_000
#: The only formats the builder decodes (``formats=READ_FORMATS``).
READ_FORMATS = ("JPEG", "PNG")
#: Extensions of image files the builder does not read; source discovery lists them so that
#: they become ``decode`` failures naming their format instead of being skipped.
OTHER_IMAGE_EXTENSIONS = (
    ".webp",
    ".bmp",
    ".dib",
    ".tif",
    ".tiff",
    ".gif",
    ".heic",
    ".heif",
    ".avif",
    ".jp2",
    ".j2k",
    ".jxl",
    ".ppm",
    ".pgm",
    ".pbm",
    ".pnm",
    ".tga",
    ".exr",
    ".hdr",
    ".psd",
    ".ico",
)
#: (offset, leading bytes, name) of formats Pillow does not identify, only to name them.
_OTHER_SIGNATURES = (
    (4, b"ftyphei", "HEIF"),
    (4, b"ftypmif1", "HEIF"),
    (4, b"ftypavif", "AVIF"),
    (0, b"\xff\n", "JPEG XL"),
    (4, b"JXL ", "JPEG XL"),
    (0, b"v/1\x01", "OpenEXR"),
    (0, b"#?RADIANCE", "Radiance HDR"),
)
#: Pillow's format names that read better spelled out.
_FORMAT_NAMES = {"WEBP": "WebP", "JPEG2000": "JPEG 2000", "MPO": "JPEG"}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: JPEG start-of-frame markers (they carry the size): C0–CF except DHT, JPG, DAC.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


class DecodeError(ValueError):
    """An image file's content cannot be used; ``str()`` is one sentence naming the file."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path} {reason}")
        self.path = path
        self.reason = reason  # without the path, e.g. "is empty (0 bytes)"


@dataclass(frozen=True)
class Header:
    """What an image file's header says: ``format`` ("JPEG", "PNG"), ``width``, ``height``."""

    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def _png_header(path: str, handle: BinaryIO) -> Header:
    chunk = handle.read(16)  # length, "IHDR", width, height
    if len(chunk) < 16 or chunk[4:8] != b"IHDR":
        raise DecodeError(path, "is a truncated or corrupt PNG (no IHDR header chunk)")
    return Header("PNG", int.from_bytes(chunk[8:12], "big"), int.from_bytes(chunk[12:16], "big"))


def _jpeg_header(path: str, handle: BinaryIO) -> Header:
    """Walk the JPEG's marker segments (seeking past their payloads) to its frame header."""
    truncated = "is a truncated JPEG (it ends before its frame header)"
    while True:
        byte = handle.read(1)
        if byte != b"\xff":
            raise DecodeError(
                path, truncated if not byte else "is a corrupt JPEG (garbage where a marker belongs)"
            )
        marker = handle.read(1)
        while marker == b"\xff":  # fill bytes may precede a marker
            marker = handle.read(1)
        if not marker:
            raise DecodeError(path, truncated)
        code = marker[0]
        if code in (0x01, 0xD8) or 0xD0 <= code <= 0xD7:
            continue  # markers without a payload
        if code in (0xD9, 0xDA):
            raise DecodeError(path, "is a corrupt JPEG (no frame header before its image data)")
        length = handle.read(2)
        if len(length) < 2:
            raise DecodeError(path, truncated)
        if code in _SOF_MARKERS:
            frame = handle.read(5)  # precision, height, width
            if len(frame) < 5:
                raise DecodeError(path, truncated)
            height, width = int.from_bytes(frame[1:3], "big"), int.from_bytes(frame[3:5], "big")
            if not height or not width:
                raise DecodeError(
                    path,
                    f"is a JPEG whose frame header gives a {width}×{height} "
                    "size (a later DNL marker is not supported)",
                )
            return Header("JPEG", width, height)
        handle.seek(max(int.from_bytes(length, "big") - 2, 0), io.SEEK_CUR)


def _other_header(path: str, handle: BinaryIO) -> Header:
    """Format and size of a non-JPEG/PNG image by Pillow, which reads only the header."""
    from PIL import Image, UnidentifiedImageError

    handle.seek(0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(handle) as image:
                name = _FORMAT_NAMES.get(image.format, image.format)
                return Header(name, *image.size)
    except Image.DecompressionBombError:
        raise DecodeError(
            path,
            f"has a header claiming more than {2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6:.0f} MP; it was not decoded",
        ) from None
    except (ValueError, SyntaxError, EOFError, IndexError, UnidentifiedImageError):
        pass  # UnidentifiedImageError is an OSError, but the file *was* read: bad content
    handle.seek(0)
    lead = handle.read(16)
    for offset, signature, name in _OTHER_SIGNATURES:
        if lead[offset : offset + len(signature)] == signature:
            raise DecodeError(
                path, f"is in {name} format, which cannot be read here (convert it to PNG or JPEG)"
            )
    raise DecodeError(path, "is not a readable JPEG or PNG image (corrupt, or not an image)")


def _header(path: str, handle: BinaryIO) -> Header:
    lead = handle.read(8)
    if not lead:
        raise DecodeError(path, "is empty (0 bytes)")
    if lead == _PNG_SIGNATURE:
        return _png_header(path, handle)
    if lead[:3] == b"\xff\xd8\xff":
        handle.seek(2)
        return _jpeg_header(path, handle)
    return _other_header(path, handle)


def check_header(
    path: str,
    header: Header,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    formats: tuple[str, ...] | None = None,
) -> None:
    """DecodeError when ``header`` claims more than ``max_pixels`` pixels (None: no limit) or
    its format is not one of ``formats`` (None: any format OpenCV decodes)."""
    if formats is not None and header.format not in formats:
        raise DecodeError(
            path,
            f"is in {header.format} format; only {' and '.join(formats)} images "
            "are read (convert it to PNG, or JPEG for photos)",
        )
    if max_pixels is not None and header.pixels > max_pixels:
        raise DecodeError(
            path,
            f"is {header.width}×{header.height} = {header.pixels:,} pixels, above "
            f"the limit of {max_pixels:,} (hmh-build --max-pixels); it was not "
            "decoded",
        )


def read_header(
    path: str, max_pixels: int | None = DEFAULT_MAX_PIXELS, formats: tuple[str, ...] | None = None
) -> Header:
    """Format and size of an image file from its header alone (no pixels decoded): JPEG and
    PNG parsed here, other formats by Pillow.

    Raises DecodeError for a corrupt, truncated or unknown header, more than ``max_pixels``
    pixels, or a format outside ``formats`` (see :func:`check_header`); OSError when the file
    cannot be read.
    """
    with open(path, "rb") as handle:
        header = _header(path, handle)
    check_header(path, header, max_pixels, formats)
    return header


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


def _decode(path: str, data: bytes, max_pixels: int | None, formats: tuple[str, ...] | None) -> np.ndarray:
    check_header(path, _header(path, io.BytesIO(data)), max_pixels, formats)
    _check_complete(path, data)
    try:
        array: np.ndarray | None = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # OpenCV raises (not None) e.g. for a header past its pixel limit
        why = (
            "its header claims more pixels than OpenCV decodes (2^30)"
            if "MAX_IMAGE_PIXELS" in str(exc)
            else "OpenCV rejected it"
        )
        raise DecodeError(path, f"cannot be decoded: {why}; the file is corrupt or too large") from None
    if array is None or array.size == 0:
        raise DecodeError(path, "is not a readable JPEG or PNG image (corrupt, or not an image)")
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    if array.dtype != np.uint8:
        raise DecodeError(path, f"has unsupported pixel type {array.dtype} (expected 8 or 16 bit)")
    return array


def _read_and_decode(path: str, max_pixels: int | None, formats: tuple[str, ...] | None) -> np.ndarray:
    """Header first (a few bytes), then the whole file, then the pixels; the header is checked
    again on the bytes read, in case the file changed in between."""
    read_header(path, max_pixels, formats)
    return _decode(path, read_bytes(path), max_pixels, formats)


def to_rgb(array: np.ndarray) -> np.ndarray:
    """Decoded OpenCV array (gray, BGR or BGRA, uint8) → RGB uint8 (H, W, 3)."""
    if array.ndim == 2:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    if array.shape[2] == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2RGB)
    return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)


def decode_image(
    path: str, max_pixels: int | None = DEFAULT_MAX_PIXELS, formats: tuple[str, ...] | None = None
) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3); any alpha channel is dropped. The header is
    checked first (:func:`check_header`): nothing above ``max_pixels`` pixels, and nothing
    outside ``formats`` when given, is decoded."""
    return to_rgb(_read_and_decode(path, max_pixels, formats))


def decode_matte(
    path: str,
    layout: str,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    formats: tuple[str, ...] | None = None,
) -> np.ndarray:
    """Read a matte as uint8 (H, W), 0 = background, 255 = foreground.

    ``layout="kaggle"``: the 4th channel of an RGBA PNG. ``layout="plain"``: a grayscale PNG
    (an RGB PNG whose three channels are equal is accepted too). Header first, as
    :func:`decode_image`.
    """
    array = _read_and_decode(path, max_pixels, formats)
    if layout == "kaggle":
        if array.ndim != 3 or array.shape[2] != 4:
            channels = 1 if array.ndim == 2 else array.shape[2]
            raise DecodeError(
                path,
                f"has no alpha channel ({channels} channel(s)); a Kaggle-layout "
                "matte must be an RGBA PNG whose 4th channel is the matte",
            )
        return np.ascontiguousarray(array[:, :, 3])
    if array.ndim == 2:
        return array
    if (
        array.shape[2] == 3
        and (array[:, :, 0] == array[:, :, 1]).all()
        and (array[:, :, 1] == array[:, :, 2]).all()
    ):
        return np.ascontiguousarray(array[:, :, 0])
    raise DecodeError(
        path, f"is a {array.shape[2]}-channel colour image; a plain-layout matte must be a grayscale PNG"
    )


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


def decode_pil_resized(path: str, mode: str | None, size: tuple[int, int] | None = None) -> np.ndarray:
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
            image = image.resize((int(size[1]), int(size[0])), Image.Resampling.BILINEAR)
    except UnidentifiedImageError:
        raise DecodeError(path, "is not a readable image (corrupt, or not an image)") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DecodeError(path, f"cannot be decoded ({first_line(exc)})") from None
    array = np.asarray(image)
    if mode == "1":
        return array.astype(np.uint8) * 255
    if array.dtype != np.uint8:
        raise DecodeError(path, f"has unsupported pixel type {array.dtype} (expected 8 bit)")
    return np.ascontiguousarray(array)
