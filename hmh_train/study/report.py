"""Files of ``hmh-train study score``: ``mos.md`` (Table 1's MOS / Std columns, pairwise
tests, raters, warnings), ``mos.csv`` (header ``method,MOS,Std,n_ratings,n_raters,ci_low,
ci_high``), ``mos.json`` (everything, full precision), ``mos.png`` (bar chart with the CIs),
``ratings.csv`` (every counted rating, for other tools) and ``raters.csv``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os

from hmh_builder.fsio import atomic_write_text
from hmh_train.evaluate.report import json_safe

MOS_COLUMNS = ("method", "MOS", "Std", "n_ratings", "n_raters", "ci_low", "ci_high")
RATING_COLUMNS = ("rater", "item", "sample", "method", "score", "time")
RATER_COLUMNS = ("rater", "ratings", "mean", "distinct", "constant")


def _num(value, digits: int = 4) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _csv(columns, rows) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def mos_csv(result: dict) -> str:
    rows = [
        {k: (_num(m[k]) if k in ("MOS", "Std", "ci_low", "ci_high") else m[k]) for k in MOS_COLUMNS}
        for m in result["methods"]
    ]
    return _csv(MOS_COLUMNS, rows)


def _md2(value) -> str:
    return "–" if not math.isfinite(value) else f"{value:.2f}"


def _p(value: float) -> str:
    return f"{value:.3g}" if value >= 0.001 else "<0.001"


def mos_markdown(result: dict, cfg) -> str:
    """The Markdown report (Table 1 style first)."""
    level = f"{100 * cfg.level:g}%"
    lines = [
        "# User study: mean opinion scores",
        "",
        f"{result['n_ratings']} ratings from {result['n_raters']} raters of {result['n_images']} images "
        "(each rater's last score of a picture counts). Scores 1 (bad) to 5 (excellent).",
        "",
        f"| method | MOS | Std (per-image means) | Std (all ratings) | ratings | raters | images | {level} CI |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for m in result["methods"]:
        ci = "–" if not math.isfinite(m["ci_low"]) else f"{m['ci_low']:.2f}–{m['ci_high']:.2f}"
        lines.append(
            f"| {m['method']} | {_md2(m['MOS'])} | {_md2(m['std_images'])} | {_md2(m['std_ratings'])} "
            f"| {m['n_ratings']} | {m['n_raters']} | {m['n_images']} | {ci} |"
        )
    which = "per-image means" if cfg.std == "images" else "all ratings"
    lines += [
        "",
        "MOS = mean of all ratings of the method. Std (per-image means) = sample standard deviation "
        "(n − 1) over the method's images of each image's mean score; Std (all ratings) = sample "
        f"standard deviation of all its ratings. mos.csv's Std is the one over {which}. "
        f"CI: percentile bootstrap, {cfg.n_boot} replicates resampling raters and images (crossed), "
        f"seed {cfg.seed}.",
        "",
    ]
    lines += [
        f"## Which methods differ (α = {cfg.alpha:g})",
        "",
        "Paired over images (each image's mean score per method), two-sided sign-flip permutation "
        "test of the mean difference; p-values Holm-corrected over all pairs.",
        "",
        "| A | B | images | mean A − B | p | p (Holm) | differ |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for p in result["pairs"]:
        lines.append(
            f"| {p['a']} | {p['b']} | {p['n_images']} | {_md2(p['mean_diff'])} | {_p(p['p'])} "
            f"| {_p(p['p_holm'])} | {'**yes**' if p['significant'] else 'no'} |"
        )
    lines += [
        "",
        "## Raters",
        "",
        "| rater | ratings | mean score | distinct scores |",
        "|---|---:|---:|---:|",
    ]
    for r in result["raters"]:
        name = r["rater"].replace("|", "\\|")
        lines.append(
            f"| {name} | {r['ratings']} | {r['mean']:.2f} | {r['distinct']}{' ⚠' if r['constant'] else ''} |"
        )
    if result.get("excluded"):
        lines += ["", "Excluded raters: " + ", ".join(result["excluded"])]
    if result["warnings"]:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in result["warnings"]]
    return "\n".join(lines) + "\n"


def plot_mos(path: str, result: dict, level: float) -> None:
    """Bar chart: MOS per method with its bootstrap CI as error bars, y from 1 to 5."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [m for m in result["methods"] if math.isfinite(m["MOS"])]
    names = [f"{m['method']}\n{m['MOS']:.2f}" for m in rows]
    mos = [m["MOS"] for m in rows]
    err = [
        [max(0.0, m["MOS"] - m["ci_low"]) for m in rows],
        [max(0.0, m["ci_high"] - m["MOS"]) for m in rows],
    ]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(rows) + 1.5), 3.6), dpi=120)
    try:
        ax.bar(names, mos, yerr=err, capsize=4, color="#7a9cc6", edgecolor="#223")
        ax.set_ylim(1, 5)
        ax.set_ylabel("MOS (1 bad – 5 excellent)")
        ax.set_title(
            f"MOS with {100 * level:g}% bootstrap CI ({result['n_raters']} raters, "
            f"{result['n_images']} images)",
            fontsize=10,
        )
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(path + ".tmp.png")
        os.replace(path + ".tmp.png", path)
    finally:
        plt.close(fig)


def write_report(out: str, result: dict, rows: list[dict], cfg) -> dict:
    """Write every file into ``out``; returns {name: path} (mos.png absent without matplotlib,
    with a warning added to ``result["warnings"]``)."""
    os.makedirs(out, exist_ok=True)
    files = {name: os.path.join(out, name) for name in ("mos.csv", "mos.json", "ratings.csv", "raters.csv")}
    if cfg.plot:
        try:
            plot_mos(os.path.join(out, "mos.png"), result, cfg.level)
            files["mos.png"] = os.path.join(out, "mos.png")
        except ImportError:
            result["warnings"].append(
                "mos.png not written: matplotlib is missing (pip install 'hmh-toolkit[plot]')"
            )
    atomic_write_text(files["mos.csv"], mos_csv(result))
    atomic_write_text(files["ratings.csv"], _csv(RATING_COLUMNS, rows))
    atomic_write_text(files["raters.csv"], _csv(RATER_COLUMNS, result["raters"]))
    public = {k: v for k, v in result.items() if k not in ("out", "files")}
    atomic_write_text(files["mos.json"], _json(public))
    files["mos.md"] = os.path.join(out, "mos.md")
    atomic_write_text(files["mos.md"], mos_markdown(result, cfg))
    return files


def _json(obj) -> str:
    """JSON with NaN/inf written as null."""
    return json.dumps(json_safe(obj), indent=1, ensure_ascii=False) + "\n"
