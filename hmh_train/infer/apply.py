"""``hmh-train matte`` and ``hmh-train harmonize``: the published test procedures on files.

- ``matte``: portrait + trimap → alpha (grayscale PNG), by IndexNet's demo procedure
  (``Model.matte``: its fast path, or with ``exact`` ``protocols.indexnet_demo_alpha``), any
  image size; with ``scale`` (``--scale 0.5``) the image is first shrunk by that factor, Deep
  Image Matting's demo shortcut (``protocols.dim_demo_alpha``). Either matting network
  (IndexNet, DM) runs either way.
- ``harmonize``: composite + mask of the region to adjust → harmonized image, by DoveNet's
  test transforms (``protocols.dovenet_harmonize``); other sizes run at ``--size`` and the
  change is carried back to full resolution. With ``--method`` instead of a checkpoint, a
  non-learned method (``infer.methods``: ``xue``) on the composite and its mask. The output form (``forward.HARMONIZER_OUTPUTS``)
  is the one the checkpoint's run trained with (``paper`` for DoveNet's file), or
  ``--harmonizer-output``.

Single form: ``--image`` + ``--trimap``/``--mask`` → ``--out`` file. Batch form: every image
of ``--images``, with the same-stem file of ``--trimaps``/``--masks``, → ``OUT/<stem>.png``;
``OUT/failures.csv`` lists the inputs that could not be used (the others go on). Files are
read as RGB / gray uint8 (``infer.composite``'s readers; PNG decodes are exact) and written by
extension. Any checkpoint ``load_nets`` takes works: a run folder, a ``.pt``, IndexNet's
released ``.pth.tar`` or ``deep_matting.pth.tar`` (matte), DoveNet's ``latest_net_G.pth``
(harmonize).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

from tqdm import tqdm

from hmh_builder.imageio import DEFAULT_MAX_PIXELS
from hmh_train.infer import bounded, protocols
from hmh_train.infer.composite_batch import list_images, same_stem
from hmh_train.infer.files import CompositeError, output_type, read_gray, read_rgb, read_trimap, write_image
from hmh_train.infer.matte import pick_engine
from hmh_train.infer.model import Model, load


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
    scale: float | None = None  # matte: shrink factor before alignment (DM demo: 0.5); None = 1
    exact: bool = False  # matte: IndexNet's published demo procedure step by step
    method: str | None = None  # harmonize: a non-learned method by name instead of ckpt
    device: str = "auto"
    progress: bool = True
    auto_mask: bool = False  # matte: trimap from the automatic person mask (no guide files)
    band: int | None = None  # matte --auto-mask: unknown half-width; None = automask.auto_band
    max_pixels: int | None = DEFAULT_MAX_PIXELS  # larger images are refused before decoding
    max_side: int = bounded.DEFAULT_MAX_SIDE  # matte: working size cap (0 = none)
    tile: int = bounded.DEFAULT_TILE  # matte: tile core side (0 = the whole image at once)


def matte_one(model: Model, image_path: str, trimap_path: str | None, out: str, cfg: ApplyConfig) -> None:
    """Matte one file; ``trimap_path`` None: the automatic trimap (``--auto-mask``); a photo
    where it finds no person, or too small for ``--scale``, is a CompositeError naming it."""
    image = read_rgb(image_path, cfg.max_pixels)
    trimap = None if trimap_path is None else read_trimap(trimap_path, image.shape[:2])
    try:
        alpha = model.matte(
            image,
            trimap,
            band=cfg.band,
            exact=cfg.exact,
            scale=cfg.scale,
            max_side=cfg.max_side,
            tile=cfg.tile,
        )
    except ValueError as exc:  # no person found (automask.NoPersonError), an image too small for --scale
        raise CompositeError(f"{image_path}: {exc}") from None
    write_image(out, alpha)


def harmonize_one(
    model: Model, image_path: str, mask_path: str, out: str, size: int, max_pixels=DEFAULT_MAX_PIXELS
) -> None:
    image = read_rgb(image_path, max_pixels)
    mask = read_gray(mask_path, image.shape[:2], "mask")
    try:
        result = model.harmonize(image, mask, size=size)
    except CompositeError as exc:  # e.g. a method that cannot measure this composite
        raise CompositeError(f"{image_path} with {mask_path}: {exc}") from None
    write_image(out, result)


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


def _run(cfg: ApplyConfig, name: str, work, what: str) -> dict:
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
            raise CompositeError(f"the single form needs --{guide}")
    elif cfg.guides is None and not auto:
        raise CompositeError(f"the batch form needs --{guide}s (a folder)")
    if auto:
        from hmh_train.infer.automask import load_segmenter

        load_segmenter()  # the optional extra's one-line message before any work
    output = cfg.harmonizer_output if name == "harmonization" else None
    source = cfg.method if name == "harmonization" and cfg.method else cfg.ckpt
    model = load(source, device=pick_device(cfg.device), harmonizer_output=output)
    model.network(name)  # one line naming the file when it holds no such network
    if name == "harmonization":
        model.harmonize_size_check(cfg.size)
    if cfg.image is not None:
        work(model, cfg.image, cfg.guide, cfg.out)
        result = {"written": 1, "failed": 0, "failures": [], "out": cfg.out}
    else:
        result = _batch(cfg, lambda image, guide, out: work(model, image, guide, out), what)
    result["loaded"] = list(model.loaded)  # printed by the CLI after success
    if name == "harmonization":
        result["harmonizer_output"] = model.harmonizer_output
    else:
        result["engine"] = (
            "exact" if cfg.exact else pick_engine("auto", model.device, model.network("matting"))
        )
    return result


def matte(cfg: ApplyConfig) -> dict:
    """``hmh-train matte``; returns {"written", "failed", "failures", "out", "loaded"}."""
    for option, value in (("--max-side", cfg.max_side), ("--tile", cfg.tile)):
        if value < 0:
            raise CompositeError(f"{option} must be 0 or positive, got {value}")
    if cfg.scale is not None and not 0 < cfg.scale <= 1:
        raise CompositeError(f"--scale must be in (0, 1], got {cfg.scale}")
    return _run(cfg, "matting", lambda m, i, g, o: matte_one(m, i, g, o, cfg), "matte")


def harmonize(cfg: ApplyConfig) -> dict:
    """``hmh-train harmonize``; returns {"written", "failed", "failures", "out", "loaded",
    "harmonizer_output"}. ``cfg.method`` (a name of ``infer.methods``) instead of a checkpoint."""
    if cfg.method is not None:
        from hmh_train.infer.methods import is_method, unknown_method

        if not is_method(cfg.method):
            raise CompositeError(unknown_method(cfg.method))
        if cfg.ckpt:
            raise CompositeError("give either --ckpt or --method, not both")
    if cfg.size <= 0:
        raise CompositeError(f"--size must be positive, got {cfg.size}")
    return _run(
        cfg,
        "harmonization",
        lambda m, i, g, o: harmonize_one(m, i, g, o, cfg.size, cfg.max_pixels),
        "harmonize",
    )
