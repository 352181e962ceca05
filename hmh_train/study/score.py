"""``hmh-train study score``: Table 1's MOS and Std per method from a study's ratings, with
bootstrap confidence intervals, pairwise tests, per-rater counts and warnings
(statistics in ``hmh_train.study.stats``, files in ``hmh_train.study.report``).

Each rater's last score of an item counts (a re-score replaces the earlier one).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from hmh_train.study import stats as S
from hmh_train.study.folder import RATINGS_JSONL, StudyError, load_study
from hmh_train.study.store import effective, parse_lines


@dataclass(frozen=True)
class ScoreConfig:
    """Settings of ``hmh-train study score`` (see its ``--help``)."""

    study: str
    out: str | None = None  # default STUDY/results
    std: str = "images"  # which Std goes into mos.csv: images | ratings
    n_boot: int = 2000
    n_perm: int = 10000
    alpha: float = 0.05
    level: float = 0.95
    seed: int = 0
    exclude_raters: tuple = ()
    plot: bool = True


def read_ratings(study) -> tuple[list[dict], list[str]]:
    """(rows, warnings): one row per (rater, item) that counts — rater, item, sample, method,
    score, time — in file order; warnings for lines that were skipped."""
    path = os.path.join(study.root, RATINGS_JSONL)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise StudyError(f"{path}: no ratings yet (serve the study with hmh-train study serve)") from None
    records, warnings = parse_lines(data, RATINGS_JSONL)  # no local paths in the shareable report
    rows, unknown = [], 0
    for record in sorted(effective(records).values(), key=lambda r: r["line"]):
        entry = study.items.get(record["item"])
        if entry is None:
            unknown += 1
            continue
        rows.append(
            {
                "rater": record["rater"],
                "item": record["item"],
                "sample": entry["sample"],
                "method": entry["method"],
                "score": int(record["score"]),
                "time": str(record.get("time", "")),
            }
        )
    if unknown:
        warnings.append(f"{RATINGS_JSONL}: {unknown} ratings of items this study does not have; ignored")
    return rows, warnings


def rater_table(rows: list[dict]) -> list[dict]:
    """Per rater (sorted by name): ratings, mean, distinct scores, constant (same score for all)."""
    table = {}
    for row in rows:
        table.setdefault(row["rater"], []).append(row["score"])
    return [
        {
            "rater": name,
            "ratings": len(scores),
            "mean": float(np.mean(scores)),
            "distinct": len(set(scores)),
            "constant": len(scores) >= 2 and len(set(scores)) == 1,
        }
        for name, scores in sorted(table.items())
    ]


def compute(rows: list[dict], methods, samples, cfg: ScoreConfig) -> dict:
    """Everything the report shows, from the counted rating rows."""
    raters = sorted({r["rater"] for r in rows})
    index = {
        kind: {name: k for k, name in enumerate(names)}
        for kind, names in (("method", methods), ("rater", raters), ("sample", samples))
    }
    arrays = {
        kind: np.array([index[kind][r[kind]] for r in rows], dtype=np.int64)
        for kind in ("method", "rater", "sample")
    }
    score = np.array([r["score"] for r in rows], dtype=np.float64)
    sums, counts = S.cell_sums(
        arrays["method"], arrays["rater"], arrays["sample"], score, (len(methods), len(raters), len(samples))
    )
    means = S.image_means(sums, counts)
    summary = S.summarise(arrays["method"], arrays["rater"], arrays["sample"], score, len(methods), means)
    rng = np.random.default_rng(cfg.seed)
    wr, ws = S.bootstrap_weights(rng, len(raters), len(samples), cfg.n_boot)
    ci = S.percentile_ci(S.bootstrap_mos(sums, counts, wr, ws), cfg.level)
    for row, name, (low, high) in zip(summary, methods, ci, strict=False):
        row.update(
            method=name,
            ci_low=float(low),
            ci_high=float(high),
            Std=row["std_images"] if cfg.std == "images" else row["std_ratings"],
        )
    pairs = S.paired_tests(means, np.random.default_rng([cfg.seed, 1]), cfg.n_perm, cfg.alpha)
    for pair in pairs:
        pair["a"], pair["b"] = methods[pair["a"]], methods[pair["b"]]
    return {
        "methods": summary,
        "pairs": pairs,
        "raters": rater_table(rows),
        "n_ratings": len(rows),
        "n_raters": len(raters),
        "n_images": len(samples),
    }


def score_study(cfg: ScoreConfig) -> dict:
    """Score ``cfg.study``; write mos.md, mos.csv, mos.json, mos.png, ratings.csv, raters.csv
    into ``cfg.out`` (default STUDY/results). Returns the computed result plus "warnings",
    "out" and "files"."""
    from hmh_train.study.report import write_report

    if cfg.std not in ("images", "ratings"):
        raise StudyError(f"std must be 'images' or 'ratings', got {cfg.std!r}")
    if cfg.n_boot < 1 or cfg.n_perm < 1 or not 0 < cfg.level < 1 or not 0 < cfg.alpha < 1:
        raise StudyError("--n-boot and --n-perm must be ≥ 1, --level and --alpha in (0, 1)")
    study = load_study(cfg.study, check_images=False)
    rows, warnings = read_ratings(study)
    excluded = set(cfg.exclude_raters)
    missing = sorted(excluded - {r["rater"] for r in rows})
    if missing:
        warnings.append(f"--exclude-rater {missing[0]!r}: no such rater in the ratings")
    rows = [r for r in rows if r["rater"] not in excluded]
    if not rows:
        raise StudyError(f"{os.path.join(study.root, RATINGS_JSONL)}: no ratings to score")
    result = compute(rows, list(study.methods), list(study.samples), cfg)
    for rater in result["raters"]:
        if rater["constant"]:
            warnings.append(
                f"rater {rater['rater']!r} gave {rater['mean']:g} to all {rater['ratings']} "
                "pictures they scored (check them; --exclude-rater drops a rater)"
            )
    for row in result["methods"]:
        if row["n_ratings"] == 0:
            warnings.append(f"method {row['method']!r} has no ratings yet")
    out = cfg.out or os.path.join(study.root, "results")
    result.update(warnings=warnings, out=out, excluded=sorted(excluded))
    result["files"] = write_report(out, result, rows, cfg)
    return result
