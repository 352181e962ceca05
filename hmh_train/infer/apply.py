"""``hmh-train matte`` and ``hmh-train harmonize``: the published test procedures on files.

- ``matte``: portrait + trimap → alpha (grayscale PNG), by IndexNet's demo procedure
  (``protocols.indexnet_demo_alpha``), any image size.
- ``harmonize``: composite + mask of the region to adjust → harmonized image, by DoveNet's
  test transforms (``protocols.dovenet_harmonize``); other sizes run at ``--size`` and the
  change is carried back to full resolution. The output form (``forward.HARMONIZER_OUTPUTS``)
  is the one the checkpoint's run trained with (``paper`` for DoveNet's file), or
  ``--harmonizer-output``.

Single form: ``--image`` + ``--trimap``/``--mask`` → ``--out`` file. Batch form: every image
of ``--images``, with the same-stem file of ``--trimaps``/``--masks``, → ``OUT/<stem>.png``;
``OUT/failures.csv`` lists the inputs that could not be used (the others go on). Files are
read as RGB / gray uint8 (``infer.composite``'s readers; PNG decodes are exact) and written by
extension. Any checkpoint ``load_nets`` takes works: a run folder, a ``.pt``, IndexNet's
released ``.pth.tar`` (matte), DoveNet's ``latest_net_G.pth`` (harmonize).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from hmh_builder.imageio import DEFAULT_MAX_PIXELS
from hmh_train.infer import bounded, protocols
from hmh_train.infer.composite import (
    CompositeError,
    automatic_trimap,
    load_automask,
    output_type,
    read_gray,
    read_rgb,
    write_image,
)
from hmh_train.infer.composite_batch import list_images, same_stem

TRIMAP_VALUES = (0, 128, 255)


@dataclass(frozen=True)
class ApplyConfig:
    """Settings of ``hmh-train matte`` / ``harmonize`` (see their --help)."""

    ckpt: str
    out: str
    image: str | None = None  # single form
    guide: str | None = None  # its trimap (matte) or mask (harmonize)
    images: str | None = None  # batch form: folder of images
    guides: str | None = None  # ... and the folder of same-stem trimaps / masks
    size: int = protocols.DOVENET_SIZE  # harmonize: side the U-Net runs at
    harmonizer_output: str | None = None  # harmonize: output form; None = the checkpoint's own
    device: str = "auto"
    progress: bool = True
    auto_mask: bool = False  # matte: trimap from the automatic person mask (no guide files)
    band: int | None = None  # matte --auto-mask: unknown half-width; None = automask.auto_band
    max_pixels: int | None = DEFAULT_MAX_PIXELS  # larger images are refused before decoding
    max_side: int = bounded.DEFAULT_MAX_SIDE  # matte: working resolution cap (0 = none)
    tile: int = bounded.DEFAULT_TILE  # matte: tile core side (0 = the whole image at once)


def load_net(path: str, name: str, device, log=None, with_nets: bool = False):
    """The ``name`` network of any checkpoint (with ``with_nets``: ``(net, Nets)``, whose
    ``harmonizer_output`` says how the run used its harmonizer); ``log`` gets the line saying
    what was loaded."""
    from hmh_train.train.checkpoint import checkpoint_file, load_nets

    ckpt = checkpoint_file(path)
    nets, _ = load_nets(ckpt, device=device, log=log)
    net = getattr(nets, name)
    if net is None:
        hint = (
            "IndexNet's .pth.tar or a run with a matting net"
            if name == "matting"
            else "DoveNet's latest_net_G.pth or a run with a harmonization net"
        )
        raise CompositeError(f"{path}: holds no {name} network (give {hint})")
    return (net, nets) if with_nets else net


def read_trimap(path: str, shape) -> np.ndarray:
    """uint8 (H, W) trimap with values in {0, 128, 255} only (the demo treats exactly 128 as
    unknown and copies every other value into the alpha); CompositeError otherwise."""
    trimap = read_gray(path, shape, "trimap")
    odd = np.setdiff1d(np.unique(trimap), TRIMAP_VALUES)
    if odd.size:
        raise CompositeError(
            f"{path}: trimap has values other than 0, 128, 255 (e.g. {odd[0]}); "
            "save it losslessly (PNG) with exactly these three values"
        )
    return trimap


def matte_array(net, image: np.ndarray, trimap: np.ndarray, max_side: int, tile: int) -> np.ndarray:
    """uint8 (H, W) alpha by IndexNet's demo procedure run through ``bounded.bounded_alpha``:
    exactly the demo when the image fits (longer side ≤ ``max_side`` and one crop of ``tile``),
    else at the capped size, in tiles, and brought back to full size (see ``infer.bounded``)."""

    def predict(crop, crop_trimap):
        return protocols.indexnet_demo_alpha(net, crop, crop_trimap).astype(np.float32)

    margin = bounded.DEFAULT_MARGIN if tile else 0
    alpha = bounded.bounded_alpha(predict, image, trimap, max_side, tile or max(trimap.shape), margin)
    return np.clip(alpha, 0, 255).astype(np.uint8)  # truncation, as the demo


def matte_one(
    net, image_path: str, trimap_path: str | None, out: str, cfg: ApplyConfig | None = None
) -> None:
    """Matte one file; ``trimap_path`` None = the automatic trimap (``cfg.auto_mask``)."""
    cfg = cfg or ApplyConfig(ckpt="", out=out)
    image = read_rgb(image_path, cfg.max_pixels)
    if trimap_path is None:
        trimap = automatic_trimap(image, image_path, cfg.band)
    else:
        trimap = read_trimap(trimap_path, image.shape[:2])
    write_image(out, matte_array(net, image, trimap, cfg.max_side, cfg.tile))


def harmonize_one(
    net,
    image_path: str,
    mask_path: str,
    out: str,
    size: int,
    output: str = "paper",
    max_pixels=DEFAULT_MAX_PIXELS,
) -> None:
    image = read_rgb(image_path, max_pixels)
    mask = read_gray(mask_path, image.shape[:2], "mask")
    write_image(out, protocols.dovenet_harmonize(net, image, mask, size, output))


def _batch(cfg: ApplyConfig, work, what: str) -> dict:
    """Run ``work(image, guide, out)`` on every image of ``cfg.images``; failures listed."""
    images = list_images(cfg.images)
    if not images:
        raise CompositeError(f"{cfg.images}: no images (.png, .jpg, .jpeg, .webp, .bmp)")
    for name, folder in (("--images", cfg.images), ("the guide", cfg.guides)):
        if folder and os.path.realpath(folder) == os.path.realpath(cfg.out):
            raise CompositeError(
                f"{cfg.out}: --out is also {name} folder; results would "
                "overwrite the inputs (<stem>.png); choose another --out"
            )
    os.makedirs(cfg.out, exist_ok=True)
    written, failures = 0, []
    for path in tqdm(images, desc=what, unit="image", disable=not cfg.progress):
        stem = os.path.splitext(os.path.basename(path))[0]
        try:
            work(path, same_stem(cfg.guides, stem), os.path.join(cfg.out, f"{stem}.png"))
            written += 1
        except CompositeError as exc:
            failures.append((stem, str(exc)))
    with open(os.path.join(cfg.out, "failures.csv"), "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(("image", "reason"))
        writer.writerows(failures)
    return {"written": written, "failed": len(failures), "failures": failures, "out": cfg.out}


def _run(cfg: ApplyConfig, name: str, work, what: str, check=None) -> dict:
    from hmh_train.train.distributed import pick_device

    guide = "trimap" if name == "matting" else "mask"
    if (cfg.image is None) == (cfg.images is None):
        raise CompositeError("give either --image (single form) or --images (batch form)")
    auto = cfg.auto_mask and name == "matting"
    if auto and (cfg.guide or cfg.guides):
        raise CompositeError("--auto-mask makes the trimap: give it without --trimap/--trimaps")
    if cfg.image is not None:
        output_type(cfg.out)  # before loading anything
        if cfg.guide is None and not auto:
            raise CompositeError(
                f"the single form needs --{guide} (or --auto-mask)"
                if name == "matting"
                else f"the single form needs --{guide}"
            )
    elif cfg.guides is None and not auto:
        raise CompositeError(f"the batch form needs --{guide}s (a folder)")
    if auto:
        load_automask()  # the optional extra's message before any work
    loaded = []
    net, nets = load_net(cfg.ckpt, name, pick_device(cfg.device), loaded.append, with_nets=True)
    if check is not None:
        net = check(net, nets)
    if cfg.image is not None:
        work(net, cfg.image, cfg.guide, cfg.out)
        result = {"written": 1, "failed": 0, "failures": [], "out": cfg.out}
    else:
        result = _batch(cfg, lambda image, guide, out: work(net, image, guide, out), what)
    result["loaded"] = loaded  # printed by the CLI after success
    return result


def matte(cfg: ApplyConfig) -> dict:
    """``hmh-train matte``; returns {"written", "failed", "failures", "out", "loaded"}."""
    for option, value in (("--max-side", cfg.max_side), ("--tile", cfg.tile)):
        if value < 0:
            raise CompositeError(f"{option} must be 0 or positive, got {value}")

    def work(net, image, trimap, out):
        matte_one(net, image, trimap, out, cfg)

    return _run(cfg, "matting", work, "matte")


def harmonize(cfg: ApplyConfig) -> dict:
    """``hmh-train harmonize``; returns {"written", "failed", "failures", "out", "loaded"}."""
    if cfg.size <= 0:
        raise CompositeError(f"--size must be positive, got {cfg.size}")

    from hmh_train.nets.forward import check_output_form

    form = {}

    def check(net, nets):
        step = 2 ** int(getattr(net, "num_downs", 8))
        if cfg.size % step:
            raise CompositeError(f"--size {cfg.size} is not a multiple of {step} (2**num_downs of the U-Net)")
        form["output"] = check_output_form(cfg.harmonizer_output, nets.harmonizer_output, cfg.ckpt)
        return net

    def work(net, image, mask, out):
        harmonize_one(net, image, mask, out, cfg.size, form["output"], cfg.max_pixels)

    result = _run(cfg, "harmonization", work, "harmonize", check)
    result["harmonizer_output"] = form["output"]
    return result
