"""Tables, targets and training curves of ``benchmarks/quality.py`` (no training here).

A *row* is one evaluated checkpoint: {"label", "kind" (pretrained | matting | harmonization |
joint), "form", "lambda1", "seed", "run" (its folder), "seconds", "summary" (``hmh-train eval``
means), "harmonizer_output"}. Rows with the same label (one per seed) are aggregated into
mean and sample standard deviation (n − 1; 0 for a single seed) over seeds.
"""

from __future__ import annotations

import csv
import json
import math
import os

import numpy as np

from hmh_train.evaluate.report import json_safe, markdown_table

#: (summary key, column title, format, lower is better) in table order.
METRICS = (
    ("alpha_mse", "MSE", "{:.5f}", True),
    ("sad", "SAD", "{:.4f}", True),
    ("grad", "Grad", "{:.4f}", True),
    ("conn", "Conn", "{:.4f}", True),
    ("alpha_bias", "α bias", "{:+.4f}", None),  # mean signed A_r − A over the unknown band
    ("harm_mse", "H-MSE", "{:.1f}", True),
    ("harm_fmse_bg", "H-fMSE (bg)", "{:.1f}", True),
    ("harm_psnr", "H-PSNR", "{:.2f}", False),
    ("harm_no_harm", "no harm", "{:.0%}", False),  # share of images with H-PSNR ≥ identity's
    ("harm_worst_loss_db", "worst loss dB", "{:.2f}", True),
)
MATTING_KEYS = ("alpha_mse", "sad", "grad", "conn")
#: The issue's floor on the share of test images the harmonizer does not harm.
NO_HARM_TARGET = 0.8
HARM_KEYS = ("harm_mse", "harm_fmse_bg", "harm_psnr")
E2E_KEYS = ("e2e_mse", "e2e_fmse_bg", "e2e_psnr")
IDENTITY = "identity (I_d, no harmonization)"
#: Training curves: (panel title, metrics.csv columns, run kinds drawn).
CURVES = (
    ("ℓ_gm = |A_r − A|₁ (unknown region)", ("loss_gm",), ("matting", "joint")),
    ("ℓ_gh = |I_h − I|₁", ("loss_gh",), ("harmonization", "joint")),
    ("D(real) − D(fake)", ("d_gap",), ("joint",)),
    ("attention γ of the critic", ("gamma", "gamma2"), ("joint",)),
)


def _stats(values: list) -> dict:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"mean": None, "std": None, "values": values}
    std = float(np.std(finite, ddof=1)) if len(finite) > 1 else 0.0
    return {"mean": float(np.mean(finite)), "std": std, "values": values}


def aggregate(rows: list) -> dict:
    """{label: {"kind", "form", "lambda1", "seeds", "seconds", metrics: {key: stats}}} in
    first-seen order; the identity row (from the first row's summary) last."""
    groups = {}
    for row in rows:
        groups.setdefault(row["label"], []).append(row)
    out = {}
    keys = [m[0] for m in METRICS] + list(E2E_KEYS)
    for label, members in groups.items():
        first = members[0]
        out[label] = {
            "kind": first["kind"],
            "form": first.get("harmonizer_output") or first["form"],
            "lambda1": first["lambda1"],
            "critic_composite": first.get("critic_composite"),
            "seeds": [m["seed"] for m in members],
            "seconds": [m["seconds"] for m in members],
            "runs": [m["run"] for m in members],
            "metrics": {
                k: _stats([m["summary"].get(k) for m in members])
                for k in keys
                if any(k in m["summary"] for m in members)
            },
        }
    if rows:
        summary = rows[0]["summary"]
        out[IDENTITY] = {
            "kind": "identity",
            "form": None,
            "lambda1": None,
            "seeds": [],
            "seconds": [],
            "runs": [],
            "metrics": {f"harm_{k}": _stats([summary[f"identity_{k}"]]) for k in ("mse", "fmse_bg", "psnr")},
        }
    return out


def _cell(stats: dict | None, pattern: str, spread: bool) -> str:
    if not stats or stats["mean"] is None:
        return "–"
    text = pattern.format(stats["mean"])
    return f"{text} ± {pattern.replace('+', '').format(stats['std'])}" if spread else text


def markdown(groups: dict) -> str:
    headers = ["run", "form", "seeds"] + [title for _, title, _, _ in METRICS]
    rows = []
    for label, group in groups.items():
        spread = len(group["seeds"]) > 1
        cells = [label, group["form"] or "–", str(len(group["seeds"])) if group["seeds"] else "–"]
        cells += [_cell(group["metrics"].get(key), pattern, spread) for key, _, pattern, _ in METRICS]
        rows.append(cells)
    return markdown_table(headers, rows)


def paired_differences(rows: list, label: str, reference: str, keys) -> dict:
    """{key: stats of (row − reference) per seed} over the seeds both labels have."""
    by_seed = {r["seed"]: r["summary"] for r in rows if r["label"] == label}
    ref = {r["seed"]: r["summary"] for r in rows if r["label"] == reference}
    seeds = sorted(set(by_seed) & set(ref))
    return {
        k: _stats([by_seed[s][k] - ref[s][k] for s in seeds])
        for k in keys
        if all(k in by_seed[s] and k in ref[s] for s in seeds) and seeds
    }


def _beats_identity(group: dict, identity: dict) -> dict:
    out = {}
    for key, _, _, lower in METRICS:
        if key in HARM_KEYS and key in group["metrics"]:
            mean, base = group["metrics"][key]["mean"], identity["metrics"][key]["mean"]
            out[key] = {
                "value": mean,
                "identity": base,
                "met": mean is not None and (mean < base if lower else mean > base),
            }
    share = group["metrics"].get("harm_no_harm")
    if share and share["mean"] is not None:
        out["no_harm"] = {
            "value": share["mean"],
            "floor": NO_HARM_TARGET,
            "met": share["mean"] >= NO_HARM_TARGET,
        }
    return out


def _no_worse(group: dict, reference: dict) -> dict:
    """Each matting metric: mean − reference mean ≤ the larger of the two seed spreads."""
    out = {}
    for key in MATTING_KEYS:
        a, b = group["metrics"].get(key), reference["metrics"].get(key)
        if a and b and a["mean"] is not None and b["mean"] is not None:
            allowed = max(a["std"], b["std"])
            out[key] = {
                "joint": a["mean"],
                "alone": b["mean"],
                "difference": a["mean"] - b["mean"],
                "allowed": allowed,
                "met": a["mean"] - b["mean"] <= allowed,
            }
    return out


def targets(groups: dict, default_form: str, lambda1: float = 0.02) -> dict:
    """The issue's targets on the default settings: the default-form U-Net alone and the
    joint harmonizer (λ1 = 0.02) beat the identity row on H-MSE, H-fMSE and H-PSNR; the joint
    model's matting metrics are no worse than matting alone within the seed spread."""
    identity, result = groups[IDENTITY], {}
    unet = groups.get(f"U-Net alone [{default_form}]")
    joint = groups.get(f"joint λ1={lambda1:g}")
    alone = groups.get("IN† (matting alone)")
    if unet:
        result["unet_beats_identity"] = _beats_identity(unet, identity)
    if joint:
        result["joint_harmonizer_beats_identity"] = _beats_identity(joint, identity)
    if joint and alone:
        result["joint_matting_no_worse"] = _no_worse(joint, alone)
    for name, checks in list(result.items()):
        result[name] = {"met": all(c["met"] for c in checks.values()), "checks": checks}
    return result


def targets_markdown(found: dict) -> str:
    lines = []
    titles = {
        "unet_beats_identity": "U-Net alone (default form) beats the identity row "
        f"(and harms at most {1 - NO_HARM_TARGET:.0%} of the images)",
        "joint_harmonizer_beats_identity": "joint (λ1 = 0.02) harmonizer beats the identity row "
        f"(and harms at most {1 - NO_HARM_TARGET:.0%} of the images)",
        "joint_matting_no_worse": "joint (λ1 = 0.02) matting no worse than matting alone "
        "(mean difference ≤ the larger seed std)",
    }
    for name, entry in found.items():
        detail = ", ".join(f"{k} {'✓' if c['met'] else '✗'}" for k, c in entry["checks"].items())
        lines.append(f"- {titles[name]}: **{'met' if entry['met'] else 'NOT met'}** ({detail})")
    return "\n".join(lines) + "\n"


#: Keys compared between critic composites (lower is better for all but H-PSNR and no harm).
COMPOSITE_KEYS = ("alpha_mse", "sad", "grad", "conn", "alpha_bias", "harm_mse", "harm_psnr", "harm_no_harm")


def composite_comparison(rows: list, groups: dict, default_critic: str) -> dict:
    """For each λ1 and each critic composite other than ``default_critic``: {key: paired
    difference (other − default) over seeds, with ``spread`` = the larger seed std of the two
    groups and ``beyond`` = |mean difference| > spread}, keyed "λ1=x other − default"."""
    joint = {
        (g["lambda1"], g["critic_composite"]): label for label, g in groups.items() if g["kind"] == "joint"
    }
    out = {}
    for (l1, critic), label in joint.items():
        base = joint.get((l1, default_critic))
        if critic == default_critic or base is None:
            continue
        diffs = paired_differences(rows, label, base, COMPOSITE_KEYS)
        for key, stats in diffs.items():
            a, b = groups[label]["metrics"].get(key), groups[base]["metrics"].get(key)
            spread = max(a["std"] or 0.0, b["std"] or 0.0) if a and b else None
            stats["spread"] = spread
            stats["beyond"] = spread is not None and stats["mean"] is not None and abs(stats["mean"]) > spread
        out[f"λ1={l1:g} {critic} − {default_critic}"] = diffs
    return out


def comparison_markdown(found: dict) -> list[str]:
    """Lines of the composite comparison: each metric's paired mean ± std and, marked '*',
    the differences larger than the larger seed spread of the two rows."""
    titles = {key: (title, pattern) for key, title, pattern, _ in METRICS}
    lines = []
    for name, diffs in found.items():
        cells = []
        for key in COMPOSITE_KEYS:
            if key in diffs:
                title, pattern = titles[key]
                pattern = "{:+.4f}" if key in ("harm_no_harm",) else pattern
                cells.append(
                    f"{title} {_cell(diffs[key], pattern, True)}{'*' if diffs[key]['beyond'] else ''}"
                )
        lines.append(f"- {name}: " + ", ".join(cells))
    return lines


def read_metrics(run: str) -> dict:
    """{column: (steps, values)} of ``run/metrics.csv`` (empty when absent)."""
    path = os.path.join(run, "metrics.csv")
    if not os.path.isfile(path):
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    out = {}
    for key in rows[0] if rows else ():
        pairs = [(int(r["step"]), float(r[key])) for r in rows if r.get(key) not in (None, "")]
        if pairs:
            out[key] = tuple(np.array(v) for v in zip(*pairs, strict=False))
    return out


def plot_curves(path: str, rows: list) -> None:
    """2×2 panels of the training curves of every compared run (one colour per label, one
    line per seed) from their metrics.csv."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    labels = list(dict.fromkeys(r["label"] for r in rows if r["kind"] != "pretrained"))
    colours = {label: plt.cm.tab10(i % 10) for i, label in enumerate(labels)}
    for ax, (title, columns, kinds) in zip(axes.flat, CURVES, strict=False):
        for row in rows:
            if row["kind"] not in kinds:
                continue
            logged = read_metrics(row["run"])
            for k, column in enumerate(columns):
                if column in logged:
                    steps, values = logged[column]
                    name = (
                        f"{row['label']}{'' if k == 0 else ' ' + column}"
                        if row["seed"] == min(r["seed"] for r in rows if r["label"] == row["label"])
                        else None
                    )
                    ax.plot(
                        steps,
                        values,
                        color=colours[row["label"]],
                        linestyle="-" if k == 0 else ":",
                        alpha=0.9 if row["seed"] == rows[0]["seed"] else 0.45,
                        label=name,
                        lw=1.2,
                    )
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.suptitle("Training curves (each seed one line; metrics.csv, also in each run's tb/)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_csv(path: str, groups: dict) -> None:
    keys = [m[0] for m in METRICS] + list(E2E_KEYS)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["run", "kind", "form", "lambda1", "n_seeds"]
            + [f"{k}_{s}" for k in keys for s in ("mean", "std")]
        )
        for label, group in groups.items():
            stats = [group["metrics"].get(k) or {"mean": None, "std": None} for k in keys]
            writer.writerow(
                [
                    label,
                    group["kind"],
                    group["form"] or "",
                    "" if group["lambda1"] is None else group["lambda1"],
                    len(group["seeds"]),
                ]
                + ["" if s[part] is None else repr(s[part]) for s in stats for part in ("mean", "std")]
            )


def write_report(out: str, rows: list, settings: dict, machine: dict, extra: dict) -> dict:
    """table.md, table.csv, curves.png, then results.json; returns {"table", "targets", "groups"}."""
    groups = aggregate(rows)
    found = targets(groups, extra["default_form"])
    joints = [label for label, g in groups.items() if g["kind"] == "joint"]
    paired = {label: paired_differences(rows, label, "IN† (matting alone)", MATTING_KEYS) for label in joints}
    adversarial = {}
    for label in joints:  # against λ1 = 0 with the same critic composite
        critic = groups[label]["critic_composite"]
        baseline = next(
            (j for j in joints if groups[j]["lambda1"] == 0 and groups[j]["critic_composite"] == critic), None
        )
        if baseline and label != baseline:
            adversarial[label] = paired_differences(rows, label, baseline, MATTING_KEYS + ("alpha_bias",))
    seeds = settings["seeds"]
    default_critic = extra.get("default_critic_composite", "paper")
    compared = composite_comparison(rows, groups, default_critic)
    source = (
        "Photo HMH benchmark (real photographs shipped with scikit-image and matplotlib, synthetic "
        "soft mattes)"
        if settings.get("source") == "photos"
        else "Synthetic HMH benchmark"
    )
    caption = (
        f"{source} at {settings['size']}×{settings['size']}, "
        f"{settings['portraits']} portraits ({rows[0]['summary']['samples']} in the test split), "
        f"every compared run "
        f"{settings['steps']} steps at batch {settings['batch']}, width {settings['width']}, "
        f"from the same pretrained nets ({settings['pretrain_steps']} steps on "
        f"{settings['pretrain_portraits']} other portraits); mean ± sample std over seeds "
        f"{', '.join(map(str, seeds))}. Matting: unknown band of the trimap (radius 10 px), MSE "
        f"as a fraction, SAD/Grad/Conn ÷ 1000. Harmonization: input I_d with mask 1 − α of the "
        f"true alpha, 0–255 scale, H-fMSE over α < 1, PSNR peak 255; α bias = mean signed "
        f"A_r − A over the unknown band (> 0: mattes too wide); no harm = share of test images "
        f"whose H-PSNR ≥ the identity's, worst loss = the largest per-image drop (dB). Joint "
        f"runs: λ2 = {extra['lambda2']}, harmonizer output '{extra['default_form']}', critic "
        f"matting fake '{default_critic}' unless the row names another."
    )
    table = caption + "\n\n" + markdown(groups)
    pair_lines = []
    for title_line, pairs in (
        ("Joint − matting alone, paired by seed (negative = joint better): mean ± std", paired),
        (
            "Joint − joint λ1=0, same critic composite (the adversarial term alone), paired by seed: mean ± std",
            adversarial,
        ),
    ):
        if not pairs:
            continue
        pair_lines += ["", title_line, ""]
        for label, diffs in pairs.items():
            pair_lines.append(
                f"- {label}: "
                + ", ".join(
                    f"{title} {_cell(diffs.get(key), pattern, True)}"
                    for key, title, pattern, _ in METRICS
                    if key in diffs
                )
            )
    if compared:
        pair_lines += [
            "",
            "Critic composite, paired by seed (other − default; * = beyond the larger seed std of "
            "the two rows): mean ± std",
            "",
        ] + comparison_markdown(compared)
    text = table + "\n".join(pair_lines) + "\n\nTargets (default settings):\n\n" + targets_markdown(found)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "table.md"), "w", encoding="utf-8") as handle:
        handle.write(text)
    write_csv(os.path.join(out, "table.csv"), groups)
    plot_curves(os.path.join(out, "curves.png"), rows)
    for group in groups.values():  # folders relative to OUT: nothing local in a shared file
        group["runs"] = [os.path.relpath(run, out) for run in group["runs"]]
    results = {
        "settings": settings,
        "machine": machine,
        **extra,
        "groups": groups,
        "paired_vs_matting_alone": paired,
        "paired_vs_lambda1_0": adversarial,
        "critic_composite_comparison": compared,
        "targets": found,
        "rows": [{**r, "run": os.path.relpath(r["run"], out)} for r in rows],
    }
    with open(os.path.join(out, "results.json"), "w", encoding="utf-8") as handle:
        json.dump(json_safe(results), handle, indent=1)
    return {"table": text, "targets": found, "groups": groups}
