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

from dataclasses import dataclass

import cv2
import numpy as np

from hmh_builder.imageio import DEFAULT_MAX_PIXELS
from hmh_train.infer import bounded
from hmh_train.infer import ops as infer
from hmh_train.infer.files import CompositeError, output_type, read_rgb, write_image
from hmh_train.infer.model import Composition, Model


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
    band: int | None = None  # unknown half-width of a mask's trimap; None: 10 px, or for the
    # automatic mask 2 % of the longer side (``automask.auto_band``)
    harmonize_size: int = infer.HARMONIZE_SIDE  # 0 = full resolution
    harmonize: str | None = None  # side adjusted: background | foreground; None = the
    # checkpoint's trained side (background without a record)
    harmonizer_output: str | None = None  # output form; None = the checkpoint's own
    harmonizer: str | None = None  # a non-learned method (``infer.methods``) as the harmonizer
    device: str = "auto"
    progress: bool = True
    auto_mask: bool = False  # the trimap from the automatic person mask (``infer.automask``)
    max_pixels: int | None = DEFAULT_MAX_PIXELS  # larger images refused before decoding
    max_side: int = bounded.DEFAULT_MAX_SIDE  # matting: working size cap (0 = none)
    tile: int = bounded.DEFAULT_TILE  # matting: tile core side (0 = whole image at once)


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


def write_result(made: Composition, image: np.ndarray, out: str, figure: str | None) -> None:
    """Write the final picture to ``out`` and, with ``figure``, input | alpha | composite |
    harmonized side by side."""
    write_image(out, made.final)
    if figure:
        panels = [("input", image), ("alpha", made.alpha), ("composite", made.composite)]
        if made.harmonized is not None:
            panels.append(("harmonized", made.harmonized))
        write_image(figure, side_by_side(panels))


def compose_files(
    cfg: CompositeConfig, model: Model, image: np.ndarray, background, guides: dict, path: str
) -> Composition:
    """``model.compose`` of a portrait decoded from ``path`` with its guide files ({"trimap",
    "alpha", "mask"}: paths or None; all None: the automatic mask) and ``background`` (array,
    or a path read under ``cfg.max_pixels``), in ``cfg``'s settings. No person found by the
    automatic mask: a CompositeError naming ``path``."""
    from hmh_train.infer.automask import NoPersonError

    if isinstance(background, str):
        background = read_rgb(background, cfg.max_pixels)
    try:
        return model.compose(
            image,
            background,
            **guides,
            band=cfg.band,
            harmonize_size=cfg.harmonize_size,
            side=cfg.harmonize or "background",
            max_side=cfg.max_side,
            tile=cfg.tile,
        )
    except NoPersonError as exc:
        raise CompositeError(f"{path}: {exc}") from None


def composite_one(cfg: CompositeConfig, model: Model) -> dict:
    """Single form; returns {"out", "figure", "harmonized": bool}."""
    for path in (cfg.out, cfg.figure):  # before any work, not after the networks ran
        if path:
            output_type(path)
    image = read_rgb(cfg.image, cfg.max_pixels)
    guides = {"trimap": cfg.trimap, "alpha": cfg.alpha, "mask": cfg.mask}
    if not (cfg.auto_mask or any(guides.values())):
        raise CompositeError("give a trimap, an alpha, a mask or --auto-mask")
    try:
        made = compose_files(cfg, model, image, cfg.background, guides, cfg.image)
    except CompositeError as exc:  # a method's refusal does not name the portrait by itself
        raise (CompositeError(f"{cfg.image}: {exc}") if cfg.harmonizer else exc) from None
    write_result(made, image, cfg.out, cfg.figure)
    return {"out": cfg.out, "figure": cfg.figure, "harmonized": made.harmonized is not None}
