"""Describe an HMH build or release folder: counts, parameters, mattes, colour shift.

``metadata_stats`` reads only the string datasets (cheap; used by the dataset card);
``compute_stats`` adds pixel statistics per sample:

- ``semi_transparent``: share of pixels with 0 < A < 255; ``foreground``: share with A = 255.
- colour shift between I and I_d over the **altered region** (the build's
  ``config.altered``: pixels with A = 0 for a background-altered build, A = 255 for a
  foreground-altered one), in **CIELAB** (L 0..100, a*/b* about −128..127, D65, via OpenCV
  on float RGB in [0, 1]): the mean ΔL, Δa, Δb of I_d − I and the mean ΔE*76 (Euclidean Lab
  distance) per sample. Samples without such a pixel are left out of these means.
"""

from __future__ import annotations

import json
import math

import numpy as np

from hmh_builder import schema
from hmh_builder.inspect import folder as folder_io

BLOCK = 32


def numeric_params(params_json: str) -> dict:
    """The scalar numeric (non-bool) values of a params JSON object."""
    try:
        params = json.loads(params_json)
    except json.JSONDecodeError:
        return {}
    if not isinstance(params, dict):
        return {}
    return {k: float(v) for k, v in params.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def summarize(values) -> dict:
    """count, min, max, mean, median and a 10-bin histogram of a list of floats."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return {"count": 0}
    counts, edges = np.histogram(array, bins=10)
    return {
        "count": int(array.size),
        "min": float(array.min()),
        "max": float(array.max()),
        "mean": float(array.mean()),
        "median": float(np.median(array)),
        "histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
    }


def text_params(params_json: str) -> dict:
    """The string values of a params JSON object (e.g. reinhard's ``target``)."""
    try:
        params = json.loads(params_json)
    except json.JSONDecodeError:
        return {}
    return {k: v for k, v in params.items() if isinstance(v, str)} if isinstance(params, dict) else {}


def metadata_stats(folder) -> dict:
    """Counts per split and transform (per split and subset for harmonization pairs), numeric
    parameter summaries, and text parameters (distinct values, most common, and how often a
    value equals the sample's own id — a Reinhard target should be a *different* image).
    Reads the string datasets only."""
    counts, values, texts, self_refs = {}, {}, {}, {}
    for entry in folder_io.shard_list(folder):
        with folder_io.open_shard(folder, entry["path"]) as h5:
            if schema.shard_kind(h5) == schema.KIND_PAIRS:  # grouped by subset; no parameters
                rows = [
                    (i, s, "{}") for i, s in zip(h5["id"].asstr()[()], h5["subset"].asstr()[()], strict=False)
                ]
            else:
                rows = list(
                    zip(*(list(h5[name].asstr()[()]) for name in ("id", "transform", "params")), strict=False)
                )
        per_split = counts.setdefault(entry["split"], {})
        for sample_id, transform, text in rows:
            per_split[transform] = per_split.get(transform, 0) + 1
            for key, value in numeric_params(text).items():
                values.setdefault(transform, {}).setdefault(key, []).append(value)
            for key, value in text_params(text).items():
                texts.setdefault(transform, {}).setdefault(key, []).append(value)
                hit = (transform, key)
                self_refs[hit] = self_refs.get(hit, 0) + (value == sample_id)
    totals = {}
    for per_split in counts.values():
        for transform, n in per_split.items():
            totals[transform] = totals.get(transform, 0) + n
    return {
        "counts": {"splits": counts, "transforms": totals, "total": sum(totals.values())},
        "params": {
            t: {k: summarize(v) for k, v in sorted(keys.items())} for t, keys in sorted(values.items())
        },
        "text_params": {
            t: {k: _text_summary(v, self_refs[(t, k)]) for k, v in sorted(keys.items())}
            for t, keys in sorted(texts.items())
        },
    }


def _text_summary(values: list, self_refs: int) -> dict:
    distinct = {}
    for value in values:
        distinct[value] = distinct.get(value, 0) + 1
    top = sorted(distinct.items(), key=lambda item: (-item[1], item[0]))[:3]
    return {
        "count": len(values),
        "distinct": len(distinct),
        "top": [list(t) for t in top],
        "equal_to_own_id": self_refs,
    }


def alpha_shares(alpha: np.ndarray) -> tuple:
    """(semi-transparent share, foreground share) of a uint8 (H, W) matte."""
    total = alpha.size
    semi = np.count_nonzero((alpha > 0) & (alpha < 255)) / total
    return float(semi), float(np.count_nonzero(alpha == 255) / total)


def rgb_to_lab(image: np.ndarray) -> np.ndarray:
    """uint8 (..., 3) RGB → float32 CIELAB (L 0..100, a*, b*), D65."""
    import cv2

    flat = image.reshape(-1, 1, 3).astype(np.float32) / 255.0
    return cv2.cvtColor(flat, cv2.COLOR_RGB2Lab).reshape(image.shape)


#: Where each side's colour shift is measured: the pixels that are wholly that side.
SHIFT_REGION = {"background": "A = 0", "foreground": "A = 255"}


def colour_shift(
    image: np.ndarray, alpha: np.ndarray, composite: np.ndarray, altered: str = schema.DEFAULT_ALTERED
):
    """Mean (ΔL, Δa, Δb, ΔE76) of composite − image over the altered region, or None when it
    has no pixel: A == 0 for ``background``, A == 255 for ``foreground``.

    image, composite: uint8 (H, W, 3) RGB; alpha: uint8 (H, W).
    """
    if altered not in SHIFT_REGION:
        raise ValueError(f"altered must be one of {tuple(SHIFT_REGION)}, got {altered!r}")
    mask = alpha == (255 if altered == "foreground" else 0)
    if not mask.any():
        return None
    lab_image = rgb_to_lab(image[mask])
    lab_composite = rgb_to_lab(composite[mask])
    delta = lab_composite - lab_image
    return tuple(float(v) for v in delta.mean(axis=0)) + (float(np.linalg.norm(delta, axis=-1).mean()),)


def pixel_stats(folder, max_samples: int | None = None, seed: int = 0, progress: bool = False) -> dict:
    """Matte shares and the colour shift over the altered region, over (a seeded subset of)
    all samples."""
    from tqdm import tqdm

    altered = schema.manifest_altered(schema.load_manifest(folder))
    refs = folder_io.sample_refs(folder)
    if max_samples is not None and max_samples < len(refs):
        keep = np.random.default_rng(seed).choice(len(refs), size=max_samples, replace=False)
        refs = [refs[i] for i in sorted(keep)]
    rows = []
    bar = tqdm(total=len(refs), unit="sample", desc="stats", disable=not progress, leave=False)
    for start in range(0, len(refs), BLOCK):
        block = folder_io.read_samples(folder, refs[start : start + BLOCK], names=("I", "A", "I_d"))
        for sample in block:
            semi, fg = alpha_shares(sample["A"])
            rows.append(
                (
                    sample["transform"],
                    semi,
                    fg,
                    colour_shift(sample["I"], sample["A"], sample["I_d"], altered),
                )
            )
        bar.update(len(block))
    bar.close()
    return _pixel_summary(rows, altered)


def _pixel_summary(rows, altered: str) -> dict:
    shift_keys = ("delta_L", "delta_a", "delta_b", "delta_E76")
    shifts = {}
    for transform, _, _, shift in rows:
        if shift is not None:
            for target in ("all", transform):
                for key, value in zip(shift_keys, shift, strict=False):
                    shifts.setdefault(target, {}).setdefault(key, []).append(value)
    return {
        "samples": len(rows),
        "alpha": {
            "semi_transparent_share": summarize([r[1] for r in rows]),
            "foreground_share": summarize([r[2] for r in rows]),
        },
        "altered": altered,
        "shift_region": SHIFT_REGION[altered],
        "shift_lab": {t: {k: summarize(v) for k, v in keys.items()} for t, keys in sorted(shifts.items())},
    }


def compute_stats(folder, max_samples: int | None = None, seed: int = 0, progress: bool = False) -> dict:
    """Everything ``hmh-build stats`` reports, as a JSON-serialisable dict."""
    manifest = schema.load_manifest(folder)
    if schema.manifest_kind(manifest) != schema.KIND_HMH:
        raise ValueError(
            f"{folder} holds {schema.manifest_kind(manifest)} pairs, not HMH samples; "
            "hmh-build stats describes HMH builds (counts per subset are in its "
            "manifest.json, a grid of pairs comes from hmh-build preview)"
        )
    stats = metadata_stats(folder)
    stats["pixels"] = pixel_stats(folder, max_samples, seed, progress)
    stats["content_digest"] = manifest.get("content_digest")
    return stats


def _histogram_panels(stats: dict) -> list:
    """(title, summary) for every histogram the plot shows."""
    panels = [
        (f"{t}: {k}", s) for t, keys in stats["params"].items() for k, s in keys.items() if s.get("count")
    ]
    alpha = stats["pixels"]["alpha"]
    panels.append(("share of semi-transparent pixels (0<A<255)", alpha["semi_transparent_share"]))
    pixels = stats["pixels"]
    shift = pixels["shift_lab"].get("all", {})
    if shift.get("delta_E76", {}).get("count"):
        panels.append(
            (f"{pixels['altered']} ({pixels['shift_region']}) ΔE*76 (Lab), I vs I_d", shift["delta_E76"])
        )
    return panels


def plot_stats(stats: dict, path) -> int:
    """Write the stats figure (PNG): counts bar chart + one histogram per summary.

    Returns the number of panels. Raises RuntimeError with an install hint when matplotlib
    (the ``plot`` extra) is missing.
    """
    try:
        import matplotlib
    except ImportError:
        raise RuntimeError("the plot needs matplotlib: pip install 'hmh-toolkit[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = _histogram_panels(stats)
    cols = 3
    rows = math.ceil((len(panels) + 1) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3 * rows), squeeze=False)
    axes = axes.ravel()
    _plot_counts(axes[0], stats["counts"]["splits"])
    for ax, (title, summary) in zip(axes[1:], panels, strict=False):
        hist = summary["histogram"]
        ax.stairs(hist["counts"], hist["edges"], fill=True)
        ax.set_title(title, fontsize=9)
        ax.set_ylabel("samples")
    for ax in axes[len(panels) + 1 :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return len(panels) + 1


def _plot_counts(ax, splits: dict) -> None:
    transforms = list(schema.TRANSFORMS)
    x = np.arange(len(transforms))
    for offset, split in enumerate(sorted(splits)):
        heights = [splits[split].get(t, 0) for t in transforms]
        ax.bar(x + 0.4 * offset - 0.2, heights, width=0.4, label=split)
    ax.set_xticks(x, transforms)
    ax.set_title("samples per transform and split", fontsize=9)
    ax.legend()


def format_stats(stats: dict) -> str:
    """Human-readable multi-line summary."""
    lines = [f"samples: {stats['counts']['total']}"]
    for split, per in sorted(stats["counts"]["splits"].items()):
        detail = ", ".join(f"{t} {n}" for t, n in sorted(per.items()))
        lines.append(f"  {split}: {sum(per.values())} ({detail})")
    for transform, keys in stats["params"].items():
        for key, s in keys.items():
            lines.append(
                f"  {transform}.{key}: {s['min']:.4g} .. {s['max']:.4g} "
                f"(mean {s['mean']:.4g}, n {s['count']})"
            )
    for transform, keys in stats.get("text_params", {}).items():
        for key, t in keys.items():
            lines.append(
                f"  {transform}.{key}: {t['distinct']} distinct of {t['count']}"
                f" (most common {t['top'][0][0]!r} ×{t['top'][0][1]}; "
                f"{t['equal_to_own_id']} equal to the sample's own id)"
            )
    alpha = stats["pixels"]["alpha"]["semi_transparent_share"]
    if alpha.get("count"):
        lines.append(
            f"semi-transparent pixels per sample: mean {alpha['mean']:.2%}, "
            f"max {alpha['max']:.2%} over {alpha['count']} samples"
        )
    pixels = stats["pixels"]
    for target, keys in pixels["shift_lab"].items():
        lines.append(
            f"{pixels['altered']} shift I→I_d (CIELAB, {pixels['shift_region']}) [{target}]: "
            + ", ".join(f"{k} {v['mean']:+.2f}" for k, v in keys.items())
        )
    return "\n".join(lines)
