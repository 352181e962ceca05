"""``hmh-train figure fig4`` and ``fig2``: the paper's qualitative figures from shards and runs.

- **fig4** (harmonization): one row per seeded test sample (``study.make.pick_samples``, the
  same samples for every column), columns composite I_d | each ``--method`` (the registry of
  non-learned harmonizers, ``infer.methods``) | each ``--ckpt`` (its harmonization net on I_d
  with the mask of the altered side, or the stored mask of pair shards, exactly as
  ``hmh-train study make`` renders it) | optionally the real image I.
- **fig2** (matting): columns ground-truth α | each ``--ckpt``'s matting net (α predicted from
  the evaluation trimap of the true α, radius ``EVAL_TRIMAP_RADIUS``); rows α, the composite
  made with that α, optionally the harmonized composite (``--harmonizer``), and an enlarged
  crop of the composite where the true α has the most unknown pixels (the silhouette; marked
  on the composite row). The composite is the joint model's input A·I + (1 − A)·I_d
  (``forward.altered_input``), or A·I + (1 − A)·background with ``--background``.

Images are uint8 RGB ``(H, W, 3)``, alphas uint8 ``(H, W)``. ``--ckpt`` values are ``PATH`` or
``LABEL=PATH``; a column's default label is ``study.folder.method_name(PATH)`` with the paper's
names for the usual runs (``PAPER_LABELS``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from hmh_train.infer.methods import METHODS, is_method, unknown_method
from hmh_train.study import folder as F
from hmh_train.study.figure_grid import FigureError, check_out, figure_layout, grid_figure, save_figure
from hmh_train.study.make import MakeConfig, pick_samples, read_samples, render_checkpoint

#: Column labels of the registered methods (default: the name).
METHOD_LABELS = {"identity": "Composite (identity)", "xue": "Xue et al."}
#: Names that are learned networks, not methods: their runs are given with --ckpt.
LEARNED = {"dih": "DIH", "unet": "U-Net", "dovenet": "DoveNet", "joint": "Ours", "ours": "Ours"}
#: Column labels of the usual run names (the README's recipes and the released files).
PAPER_LABELS = {
    "joint": "Ours",
    "unet": "U-Net",
    "harmonization": "U-Net",
    "latest_net_G": "DoveNet",
    "dih": "DIH",
    "matting": "IN†",
    "indexnet_matting": "IN",
}


@dataclass(frozen=True)
class FigureConfig:
    """Settings of ``hmh-train figure fig4 | fig2`` (see their ``--help``)."""

    shards: str
    out: str
    split: str = "test"
    n: int = 3
    seed: int = 0
    methods: tuple = ()  # fig4: non-learned harmonizers by name
    ckpts: tuple = ()  # PATH or LABEL=PATH
    real: bool = False  # fig4: a last column with the real image
    harmonizer: str | None = None  # fig2: a run whose harmonization net harmonizes each composite
    background: str | None = None  # fig2: composite onto this image instead of I_d
    crop: float = 0.25  # fig2: crop side as a fraction of the image side
    harmonizer_output: str | None = None
    device: str = "auto"
    allow_other_side: bool = False
    progress: bool = True


def parse_ckpt(value: str) -> tuple[str, str]:
    """(label, path) of a ``--ckpt`` value ``PATH`` or ``LABEL=PATH``."""
    label, sep, path = value.partition("=")
    if sep and label and path and not os.path.exists(value):
        return label, path
    name = F.method_name(value)
    return PAPER_LABELS.get(name, name), value


def check_method(name: str) -> None:
    """ValueError (one line) unless ``name`` is a registered method; for the name of a learned
    network, the line says to give its run with ``--ckpt``."""
    if is_method(name):
        return
    key = name.strip().lower()
    if key in LEARNED:
        raise ValueError(
            f"--method {name}: {LEARNED[key]} is a learned network; give its run or checkpoint "
            f"with --ckpt (e.g. --ckpt {LEARNED[key]}=runs/{key}, trained with hmh-train harmonization"
            f"{' --harmonizer dih' if key == 'dih' else ''})"
        )
    raise ValueError(f"--method {name}: {unknown_method(name)}")


def run_method(name: str, composite: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``METHODS[name](composite, mask)`` (uint8 (H, W, 3) RGB, uint8 (H, W)), its result
    checked: uint8 of the composite's shape, else ValueError (one line)."""
    check_method(name)
    out = np.asarray(METHODS[name](composite, mask))
    if out.shape != composite.shape or out.dtype != np.uint8:
        raise ValueError(f"method {name} returned {out.dtype} {out.shape}, expected uint8 {composite.shape}")
    return out


def check_ckpts(values) -> None:
    """CheckpointError (one line) for the first ``--ckpt`` value whose file does not exist,
    before any sample is read or rendered."""
    from hmh_train.train.checkpoint import checkpoint_file

    for value in values:
        checkpoint_file(parse_ckpt(value)[1])


def load_samples(cfg: FigureConfig) -> dict:
    """``study.make.read_samples`` of the ``cfg.n`` seeded samples of ``cfg.split``, plus "mask":
    uint8 (N,H,W), the region the harmonizers adjust (255 = adjust)."""
    from hmh_train.data.shards import ShardDataset

    if cfg.n < 1:
        raise FigureError(f"--n must be at least 1, got {cfg.n}")
    try:
        dataset = ShardDataset(cfg.shards, cfg.split)
    except (OSError, ValueError) as exc:
        raise FigureError(str(exc).splitlines()[0]) from None
    samples = read_samples(dataset, pick_samples(dataset, cfg.n, cfg.seed))
    if samples["altered"] is None:
        samples["mask"] = samples["M"]
    else:
        samples["mask"] = samples["A"] if samples["altered"] == "foreground" else 255 - samples["A"]
    return samples


def make_fig4(cfg: FigureConfig) -> dict:
    """Render fig4; returns {"files", "columns", "ids", "layout" (``figure_layout``)}."""
    for name in cfg.methods:
        check_method(name)  # unknown names fail before any work
    if not cfg.methods and not cfg.ckpts:
        raise FigureError("give at least one --method or --ckpt to compare with the composite")
    check_out(cfg.out)
    check_ckpts(cfg.ckpts)
    samples = load_samples(cfg)
    columns = [("Composite", samples["I_d"])]
    for name in cfg.methods:
        images = [run_method(name, c, m) for c, m in zip(samples["I_d"], samples["mask"], strict=True)]
        columns.append((METHOD_LABELS.get(name, name), np.stack(images)))
    make_cfg = MakeConfig(
        out=cfg.out,
        shards=cfg.shards,
        harmonizer_output=cfg.harmonizer_output,
        device=cfg.device,
        allow_other_side=cfg.allow_other_side,
    )
    from tqdm import tqdm

    with tqdm(
        total=len(cfg.ckpts) * len(samples["id"]), desc="fig4", unit="picture", disable=not cfg.progress
    ) as bar:
        for value in cfg.ckpts:
            label, path = parse_ckpt(value)
            images, _ = render_checkpoint(path, samples, make_cfg, bar)
            columns.append((label, images))
    if cfg.real:
        columns.append(("Real I", samples["I"]))
    tiles = [[images[i] for _, images in columns] for i in range(len(samples["id"]))]
    titles = [label for label, _ in columns]
    fig = grid_figure(tiles, titles, [f"sample {sid}" for sid in samples["id"]])
    layout = figure_layout(fig)
    return {"files": save_figure(fig, cfg.out), "columns": titles, "ids": samples["id"], "layout": layout}


def silhouette_box(alpha: np.ndarray, fraction: float) -> tuple[int, int, int, int]:
    """(x, y, w, h) square window of side ``fraction``·min(H, W) (at least 8 px) holding the
    most 0 < α < 255 pixels of ``alpha`` uint8 (H, W); ties: the first in row-major order."""
    h, w = alpha.shape
    side = max(8, min(h, w, round(fraction * min(h, w))))
    unknown = ((alpha > 0) & (alpha < 255)).astype(np.float64)
    sums = cv2.integral(unknown)
    counts = sums[side:, side:] - sums[:-side, side:] - sums[side:, :-side] + sums[:-side, :-side]
    y, x = np.unravel_index(int(np.argmax(counts)), counts.shape)
    return int(x), int(y), side, side


def composite_with(alpha01: torch.Tensor, samples: dict, background) -> torch.Tensor:
    """``(N,3,H,W)`` in [0, 1]: α·I + (1 − α)·background, or the joint model's input
    ``altered_input(α, I, I_d)`` when ``background`` is None."""
    from hmh_train.nets.forward import altered_input

    image = torch.from_numpy(samples["I"]).permute(0, 3, 1, 2).float() / 255
    if background is not None:
        scene = torch.from_numpy(background).permute(2, 0, 1)[None].float() / 255
        return alpha01 * image + (1 - alpha01) * scene
    disharmonious = torch.from_numpy(samples["I_d"]).permute(0, 3, 1, 2).float() / 255
    return altered_input(alpha01, image, disharmonious, samples["altered"])[0]
