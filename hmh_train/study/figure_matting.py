"""``hmh-train figure fig2``: ground-truth α | each matting run's α, the composites made with
each α, the harmonized composites and an enlarged crop at the silhouette (layout in
``study.figures``' docstring)."""

from __future__ import annotations

import numpy as np
import torch

from hmh_train.study.figure_grid import FigureError, check_out, figure_layout, grid_figure, save_figure
from hmh_train.study.figures import (
    FigureConfig,
    check_ckpts,
    composite_with,
    load_samples,
    parse_ckpt,
    silhouette_box,
)


def _uint8(x: torch.Tensor) -> np.ndarray:
    """``(N,C,H,W)`` float in [0, 1] → uint8 ``(N,H,W,C)`` (``(N,H,W)`` for C = 1), rounded."""
    a = (x.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8)
    return a[:, 0].numpy() if a.shape[1] == 1 else a.permute(0, 2, 3, 1).numpy()


def predicted_alphas(cfg: FigureConfig, samples: dict, device) -> list[tuple[str, torch.Tensor]]:
    """[(label, α (N,1,H,W) in [0, 1] on CPU)]: the truth, then each ``--ckpt``'s matting net
    on (I, the evaluation trimap of the true α)."""
    from hmh_train.data.augment import EVAL_TRIMAP_RADIUS, trimap_from_alpha
    from hmh_train.infer.ops import predict_alpha_any_size
    from hmh_train.train.checkpoint import load_nets

    truth = torch.from_numpy(samples["A"])[:, None].float() / 255
    trimap = trimap_from_alpha(truth, EVAL_TRIMAP_RADIUS)
    image = torch.from_numpy(samples["I"]).permute(0, 3, 1, 2).float() / 255
    alphas = [("Ground truth α", truth)]
    for value in cfg.ckpts:
        label, path = parse_ckpt(value)
        nets, _ = load_nets(path, device=device)
        if nets.matting is None:
            raise FigureError(f"{path}: holds no matting network (fig2 compares matting runs)")
        with torch.no_grad():
            alpha = predict_alpha_any_size(nets.matting, image.to(device), trimap.to(device))
        alphas.append((label, alpha.float().cpu()))
    return alphas


def harmonizer_of(cfg: FigureConfig, device):
    """(network, output form, label) of ``--harmonizer``, or None."""
    from hmh_train.nets.forward import check_output_form
    from hmh_train.train.checkpoint import load_nets

    if not cfg.harmonizer:
        return None
    label, path = parse_ckpt(cfg.harmonizer)
    nets, _ = load_nets(path, device=device)
    if nets.harmonization is None:
        raise FigureError(f"{path}: holds no harmonization network (--harmonizer)")
    return nets.harmonization, check_output_form(cfg.harmonizer_output, nets.harmonizer_output, path), label


def read_background(cfg: FigureConfig, height: int, width: int):
    """``--background`` decoded and fitted to H×W (uint8 RGB), or None."""
    if not cfg.background:
        return None
    from hmh_builder.imageio import decode_image
    from hmh_train.infer.ops import fit_background

    try:
        scene = decode_image(cfg.background)
    except (OSError, ValueError) as exc:
        raise FigureError(f"{cfg.background}: {str(exc).splitlines()[0]}") from None
    return fit_background(scene, height, width)


def column_pictures(alphas, samples: dict, background, harmonizer, device) -> list[dict]:
    """Per column, {"α": uint8 (N,H,W), "composite": uint8 (N,H,W,3)[, "harmonized"]}: the
    composite made with that column's α, harmonized with the mask of the altered side."""
    from hmh_train.infer.ops import harmonize_any_size
    from hmh_train.nets.forward import region_mask

    pictures = []
    for _, alpha in alphas:
        comp = composite_with(alpha, samples, background)
        entry = {"α": _uint8(alpha), "composite": _uint8(comp)}
        if harmonizer is not None:
            net, form, _ = harmonizer
            mask = region_mask(alpha, samples["altered"]).to(device)
            entry["harmonized"] = _uint8(harmonize_any_size(net, comp.to(device), mask, output=form))
        pictures.append(entry)
    return pictures


def layout_rows(pictures: list[dict], samples: dict, crop: float, harmonizer_label: str | None):
    """(tiles, row labels, crop marks) of fig2: per sample the rows of ``pictures`` and the
    enlarged crop at the silhouette (``silhouette_box`` of the true α), marked on the
    composite row."""
    tiles, labels, marks = [], [], {}
    kinds = list(pictures[0])
    for i, sid in enumerate(samples["id"]):
        x, y, w, h = silhouette_box(samples["A"][i], crop)
        first = len(labels)
        for kind in kinds:
            if kind == "composite":
                marks.update({(len(tiles), c): (x, y, w, h) for c in range(len(pictures))})
            tiles.append([entry[kind][i] for entry in pictures])
            labels.append(kind if kind != "harmonized" else f"harmonized ({harmonizer_label})")
        tiles.append([entry["composite"][i][y : y + h, x : x + w] for entry in pictures])
        labels.append(f"crop ×{samples['I'].shape[1] / h:.0f}")
        if len(samples["id"]) > 1:  # the sample's id above its first row's label
            labels[first] = f"{sid}\n{labels[first]}"
    return tiles, labels, marks


def make_fig2(cfg: FigureConfig) -> dict:
    """Render fig2; returns {"files", "columns", "rows", "ids", "layout" (``figure_layout``)}."""
    from hmh_train.train.distributed import pick_device

    if not cfg.ckpts:
        raise FigureError("give at least one --ckpt with a matting network")
    if not 0 < cfg.crop <= 1:
        raise FigureError(f"--crop must be in (0, 1], got {cfg.crop}")
    check_out(cfg.out)
    check_ckpts(cfg.ckpts + ((cfg.harmonizer,) if cfg.harmonizer else ()))
    samples = load_samples(cfg)
    if samples["altered"] is None:
        raise FigureError(f"{cfg.shards}: harmonization-pair shards hold no alpha; fig2 needs HMH shards")
    device = pick_device(cfg.device)
    alphas = predicted_alphas(cfg, samples, device)
    background = read_background(cfg, *samples["I"].shape[1:3])
    harmonizer = harmonizer_of(cfg, device)
    pictures = column_pictures(alphas, samples, background, harmonizer, device)
    tiles, labels, marks = layout_rows(pictures, samples, cfg.crop, harmonizer[2] if harmonizer else None)
    columns = [label for label, _ in alphas]
    fig = grid_figure(tiles, columns, labels, marks)
    layout = figure_layout(fig)
    files = save_figure(fig, cfg.out)
    return {"files": files, "columns": columns, "rows": labels, "ids": samples["id"], "layout": layout}
