"""``hmh-train composite``: put portraits onto new backgrounds, harmonized (files in, files out).

Single form: one portrait, one of trimap / alpha / coarse mask, one background image.
Batch form: every image in a folder; its trimap/alpha/mask is the file with the same stem in
the given folder; the background is drawn per portrait from a folder of images, a background
shard file, or an ``hmh-build backgrounds`` output folder, with
``numpy.random.default_rng(schema.sample_seed(seed, stem))``, so a portrait always gets the
same background for a given seed, whatever the order or the other files.

Pixels: files are read as RGB uint8 (``hmh_builder.imageio``; grayscale PNG or equal-channel
RGB for trimaps/alphas/masks); trimap values are snapped to {0, 128, 255} (< 64 → 0,
≥ 192 → 255, else unknown). Results are written by extension (.png lossless, .jpg/.jpeg
quality 95, .webp, .bmp) after converting RGB → BGR here, once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

from hmh_builder.imageio import DEFAULT_MAX_PIXELS, DecodeError, decode_image, decode_matte, read_header
from hmh_train.infer import bounded
from hmh_train.infer import ops as infer

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


class CompositeError(ValueError):
    """A problem with one input or output file; the message is one line naming it."""


@dataclass(frozen=True)
class CompositeConfig:
    """Settings of ``hmh-train composite`` (see its --help)."""

    ckpt: str | tuple  # one checkpoint, or several merged (later files win)
    out: str
    background: str | None = None  # single form: one image
    image: str | None = None
    trimap: str | None = None
    alpha: str | None = None
    mask: str | None = None
    figure: str | None = None
    images: str | None = None  # batch form: folder of portraits
    trimaps: str | None = None  # ... and folders of same-stem trimaps/alphas/masks
    alphas: str | None = None
    masks: str | None = None
    backgrounds: str | None = None  # folder of images, background .h5, or BG build folder
    figures: bool = False
    seed: int = 0
    band: int = infer.MASK_BAND
    harmonize_size: int = infer.HARMONIZE_SIDE  # 0 = full resolution
    harmonize: str | None = None  # side adjusted: background | foreground; None = the
    # checkpoint's trained side (background without a record)
    harmonizer_output: str | None = None  # output form; None = the checkpoint's own
    device: str = "auto"
    progress: bool = True
    auto_mask: bool = False  # the trimap from the automatic person mask (``infer.automask``)
    max_pixels: int | None = DEFAULT_MAX_PIXELS  # larger portraits refused before decoding
    max_side: int = bounded.DEFAULT_MAX_SIDE  # matting: working resolution cap (0 = none)
    tile: int = bounded.DEFAULT_TILE  # matting: tile core side (0 = whole image at once)


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


def side_by_side(panels: list[tuple[str, np.ndarray]], gap: int = 4) -> np.ndarray:
    """uint8 RGB figure: panels (H, W[, 3]) in a row with ``gap`` white pixels and a label each."""
    tiles = []
    for label, panel in panels:
        tile = np.repeat(panel[..., None], 3, axis=2) if panel.ndim == 2 else panel.copy()
        scale = max(0.4, tile.shape[0] / 600)
        cv2.putText(
            tile,
            label,
            (6, int(22 * scale) + 4),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            max(1, int(2 * scale)),
            cv2.LINE_AA,
        )
        tiles += [tile, np.full((tile.shape[0], gap, 3), 255, np.uint8)]
    return np.concatenate(tiles[:-1], axis=1)


def guide_from_files(image_shape, trimap=None, alpha=None, mask=None, band=infer.MASK_BAND, auto=None):
    """("trimap" | "alpha", uint8 (H, W)) from exactly one of the three file paths, or with
    none of them the automatic trimap: ``auto`` (a function () -> uint8 trimap) when given."""
    given = [(k, p) for k, p in (("trimap", trimap), ("alpha", alpha), ("mask", mask)) if p]
    if not given and auto is not None:
        return "trimap", auto()
    if len(given) != 1:
        raise CompositeError("give exactly one of a trimap, an alpha, a mask or --auto-mask")
    kind, path = given[0]
    gray = read_gray(path, image_shape[:2], kind)
    if kind == "mask":
        return "trimap", infer.trimap_from_mask(gray, band)
    return kind, gray


def compose_arrays(
    nets,
    image: np.ndarray,
    background: np.ndarray,
    kind: str,
    guide: np.ndarray,
    device,
    harmonize_size: int = infer.HARMONIZE_SIDE,
    altered: str = "background",
    max_side: int = bounded.DEFAULT_MAX_SIDE,
    tile: int = bounded.DEFAULT_TILE,
) -> dict:
    """uint8 arrays {"alpha", "composite", "harmonized" (or None)} for one portrait; the
    harmonizer adjusts the ``altered`` side ("background": the new scene, "foreground": the
    person). A trimap of an image larger than ``max_side`` or one ``tile`` (with its margin)
    is matted by ``bounded.bounded_alpha`` first (bounded memory); smaller ones as before."""
    h, w = image.shape[:2]
    if kind == "trimap" and nets.matting is not None and bounded.needs_bounding(h, w, max_side, tile):
        kind, guide = "alpha", bounded.bounded_matte(nets.matting, image, guide, device, max_side, tile)
    bg = infer.fit_background(background, h, w)
    image_t, bg_t = infer.to_tensor(image, device), infer.to_tensor(bg, device)
    side = harmonize_size or None
    if kind == "alpha":
        result = infer.compose(
            nets, image_t, bg_t, alpha=infer.to_tensor(guide, device), harmonize_side=side, altered=altered
        )
    else:
        if nets.matting is None:
            raise CompositeError("the checkpoint has no matting network; give --alpha instead")
        result = infer.compose(
            nets,
            image_t,
            bg_t,
            trimap=infer.trimap_to_unit(guide).to(device),
            harmonize_side=side,
            altered=altered,
        )
    return {k: None if v is None else infer.to_uint8(v) for k, v in result.items()}


def write_result(arrays: dict, image: np.ndarray, out: str, figure: str | None) -> None:
    final = arrays["harmonized"] if arrays["harmonized"] is not None else arrays["composite"]
    write_image(out, final)
    if figure:
        panels = [("input", image), ("alpha", arrays["alpha"]), ("composite", arrays["composite"])]
        if arrays["harmonized"] is not None:
            panels.append(("harmonized", arrays["harmonized"]))
        write_image(figure, side_by_side(panels))


def load_automask():
    """The automatic mask's network, loaded once; CompositeError (one line: the install hint)
    when the optional extra ``auto`` is missing."""
    from hmh_train.infer.automask import load_segmenter
    from hmh_train.nets.tflite_graph import TfliteError

    try:
        return load_segmenter()
    except TfliteError as exc:
        raise CompositeError(str(exc)) from None


def automatic_trimap(image: np.ndarray, path: str, band: int | None = None) -> np.ndarray:
    """uint8 trimap (H, W) of the portrait ``image`` read from ``path`` by the automatic mask
    (``infer.automask``); CompositeError naming ``path`` when it finds no person."""
    from hmh_train.infer.automask import NoPersonError, auto_trimap

    try:
        return auto_trimap(load_automask(), image, band)
    except NoPersonError as exc:
        raise CompositeError(f"{path}: {exc}") from None


def auto_guide(cfg: CompositeConfig, image: np.ndarray, path: str):
    """With ``cfg.auto_mask``: a function giving the automatic trimap of ``image`` (read from
    ``path``; ``--band`` when it is not the default, else ``automask.auto_band``); else None."""
    if not cfg.auto_mask:
        return None
    band = None if cfg.band == infer.MASK_BAND else cfg.band
    return lambda: automatic_trimap(image, path, band)


def composite_one(cfg: CompositeConfig, nets, device) -> dict:
    """Single form; returns {"out", "figure", "harmonized": bool}."""
    for path in (cfg.out, cfg.figure):  # before any work, not after the networks ran
        if path:
            output_type(path)
    image = read_rgb(cfg.image, cfg.max_pixels)
    auto = auto_guide(cfg, image, cfg.image)
    kind, guide = guide_from_files(image.shape, cfg.trimap, cfg.alpha, cfg.mask, cfg.band, auto)
    background = read_rgb(cfg.background, cfg.max_pixels)
    arrays = compose_arrays(
        nets,
        image,
        background,
        kind,
        guide,
        device,
        cfg.harmonize_size,
        cfg.harmonize or "background",
        cfg.max_side,
        cfg.tile,
    )
    write_result(arrays, image, cfg.out, cfg.figure)
    return {"out": cfg.out, "figure": cfg.figure, "harmonized": arrays["harmonized"] is not None}
