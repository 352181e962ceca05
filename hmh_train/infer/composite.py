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

from hmh_builder.imageio import DecodeError, decode_image, decode_matte
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
    harmonizer: str | None = None  # a non-learned method (``infer.methods``) as the harmonizer
    device: str = "auto"
    progress: bool = True


def read_rgb(path: str) -> np.ndarray:
    """uint8 RGB (H, W, 3) of an image file; CompositeError naming the file otherwise."""
    try:
        return decode_image(path)
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


def guide_from_files(image_shape, trimap=None, alpha=None, mask=None, band=infer.MASK_BAND):
    """("trimap" | "alpha", uint8 (H, W)) from exactly one of the three file paths."""
    given = [(k, p) for k, p in (("trimap", trimap), ("alpha", alpha), ("mask", mask)) if p]
    if len(given) != 1:
        raise CompositeError("give exactly one of a trimap, an alpha or a mask")
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
) -> dict:
    """uint8 arrays {"alpha", "composite", "harmonized" (or None)} for one portrait; the
    harmonizer adjusts the ``altered`` side ("background": the new scene, "foreground": the
    person)."""
    from hmh_train.infer.methods import METHOD_ERRORS

    try:
        return _compose_arrays(nets, image, background, kind, guide, device, harmonize_size, altered)
    except METHOD_ERRORS as exc:  # a non-learned harmonizer (``infer.methods``) cannot use it
        raise CompositeError(f"{nets.harmonization.name}: {exc}") from None


def _compose_arrays(nets, image, background, kind, guide, device, harmonize_size, altered) -> dict:
    h, w = image.shape[:2]
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


def composite_one(cfg: CompositeConfig, nets, device) -> dict:
    """Single form; returns {"out", "figure", "harmonized": bool}."""
    for path in (cfg.out, cfg.figure):  # before any work, not after the networks ran
        if path:
            output_type(path)
    image = read_rgb(cfg.image)
    kind, guide = guide_from_files(image.shape, cfg.trimap, cfg.alpha, cfg.mask, cfg.band)
    background = read_rgb(cfg.background)
    try:
        arrays = compose_arrays(
            nets, image, background, kind, guide, device, cfg.harmonize_size, cfg.harmonize or "background"
        )
    except CompositeError as exc:
        raise CompositeError(f"{cfg.image}: {exc}") from None
    write_result(arrays, image, cfg.out, cfg.figure)
    return {"out": cfg.out, "figure": cfg.figure, "harmonized": arrays["harmonized"] is not None}
