"""Tables and files of ``hmh-train eval`` and ``hmh-train sweep`` (Markdown, CSV, JSON).

The Markdown table follows the paper's Table 1: one row per run, matting MSE / SAD / Grad /
Conn, then harmonization MSE / fMSE over the altered region / PSNR. The fMSE column says the
region: "H-fMSE (bg)" (the background, the paper's setting) or "H-fMSE (fg)" (the person, for
shards built with ``--altered foreground``), read from the metric keys ``*_fmse_bg`` /
``*_fmse_fg`` that ``evaluate.run`` wrote; runs scored on harmonization-pair shards
(``evaluate.pair_eval``, keys ``*_fmse``: over the stored mask) get "H-fMSE (mask)" and a
caption of their own (``hmh-train sweep`` on iHarmony4 shards). A value a run cannot have (no
matting net, no harmonization net) is shown as "–".
"""

from __future__ import annotations

import csv
import json
import math
import os

from hmh_builder.fsio import atomic_write_text
from hmh_train.infer.methods import caption_note

DASH = "–"
#: (summary key, column title, format) of the Table 1 columns, in order.
COLUMNS = (
    ("alpha_mse", "MSE", "{:.4f}"),
    ("sad", "SAD", "{:.3f}"),
    ("grad", "Grad", "{:.3f}"),
    ("conn", "Conn", "{:.3f}"),
    ("{g}_mse", "H-MSE", "{:.2f}"),
    ("{g}_fmse_{r}", "H-fMSE ({r})", "{:.2f}"),
    ("{g}_psnr", "H-PSNR", "{:.2f}"),
)
#: The "no harm" columns, shown when the runs have them (``no_harm_figures``): the share of
#: images whose H-PSNR is at least the identity's, and the worst per-image H-PSNR loss in dB.
NO_HARM_COLUMNS = (("{g}_no_harm", "no harm", "{:.0%}"), ("{g}_worst_loss_db", "worst loss dB", "{:.2f}"))
#: An image counts as not harmed when its H-PSNR is at most this far below the identity's: the
#: float32 [0, 1] output of an unchanged image differs from the uint8 input by rounding only.
NO_HARM_TOLERANCE_DB = 1e-4

CAPTION = (
    "Matting over the trimap's unknown region{region} (trimaps from the true alpha, radius "
    "{radius} px): MSE as a fraction (not ×10³), SAD, Grad and Conn ÷ 1000 (Deep Image Matting "
    "definitions). Harmonization against the real image I on the 0–255 scale: H-MSE over all "
    "pixels, H-fMSE over the altered region ({side}), H-PSNR in dB (peak 255); "
    "input I_d with mask {mask}, α the true alpha, unless the row says 'predicted α'. "
    "{samples} samples of split '{split}'."
)
#: Added to the caption when the table has the no-harm columns.
NO_HARM_CAPTION = (
    "'no harm': share of images whose H-PSNR is at least the identity row's (I_d as is); "
    "'worst loss dB': the largest per-image H-PSNR drop below it (negative: every image gained)."
)
#: What the caption says of each side: (fMSE region, the harmonizer's mask).
SIDE_CAPTIONS = {
    "bg": ("the background, α < 1", "1 − α (the altered background)"),
    "fg": ("the person, α > 0; shards built with --altered foreground", "α (the altered person)"),
}
#: The caption of runs scored on harmonization-pair shards (no alpha: no matting metrics).
PAIR_CAPTION = (
    "Harmonization-pair shards (no alpha, so no matting metrics): against the real image I on "
    "the 0–255 scale, H-MSE over all pixels, H-fMSE over the stored mask of the changed region, "
    "H-PSNR in dB (peak 255); input the stored composite I_d with the stored mask, networks in "
    "eval mode. {samples} samples of split '{split}'."
)


def side_tag(summaries: dict) -> str:
    """ "fg" when the runs' fMSE was measured over the person (keys ``*_fmse_fg``), "mask" when
    over the stored mask of harmonization pairs (keys ``*_fmse``), else "bg"."""
    keys = [k for summary in summaries.values() for k in summary]
    if any(k.endswith("_fmse_fg") for k in keys):
        return "fg"
    return "mask" if any(k.endswith("_fmse") for k in keys) else "bg"


def fmt(value, pattern: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH
    return pattern.format(value)


def columns(tag: str) -> list[tuple[str, str, str]]:
    """COLUMNS with the side filled in: (summary key pattern, title, format); for "mask" the
    fMSE key is the pair evaluation's ``{g}_fmse``."""
    suffix = "" if tag == "mask" else f"_{tag}"
    return [(key.replace("_{r}", suffix), title.format(r=tag), pattern) for key, title, pattern in COLUMNS]


def table_columns(summaries: dict) -> list[tuple[str, str, str]]:
    """``columns`` of the runs' side, plus ``NO_HARM_COLUMNS`` when any run has them."""
    cols = columns(side_tag(summaries))
    if any(k.endswith("_no_harm") for summary in summaries.values() for k in summary):
        cols += list(NO_HARM_COLUMNS)
    return cols


def no_harm_figures(rows: list[dict], groups=("harm", "e2e")) -> dict:
    """Per-image "no harm" figures of each group with PSNRs in ``rows`` (per-sample dicts with
    ``{group}_psnr`` and ``identity_psnr`` in dB): ``{group}_no_harm``, the share of images whose
    H-PSNR ≥ the identity's − ``NO_HARM_TOLERANCE_DB``, and ``{group}_worst_loss_db``, the largest
    identity − H-PSNR over the images (negative when every image gained)."""
    out = {}
    for group in groups:
        pairs = [(r[f"{group}_psnr"], r["identity_psnr"]) for r in rows if f"{group}_psnr" in r]
        if not pairs or "identity_psnr" not in rows[0]:
            continue
        losses = [0.0 if h == i else i - h for h, i in pairs]  # inf - inf (both exact) is no loss
        out[f"{group}_no_harm"] = sum(loss <= NO_HARM_TOLERANCE_DB for loss in losses) / len(losses)
        out[f"{group}_worst_loss_db"] = max(losses)
    return out


def table_rows(summaries: dict) -> list[tuple[str, dict]]:
    """(label, {column title: value or None}) rows: each run, its end-to-end row, identity."""
    rows, cols = [], table_columns(summaries)
    for label, summary in summaries.items():
        rows.append((label, _values(summary, "harm", cols)))
        if "e2e_mse" in summary:
            rows.append((f"{label} · predicted α", _values(summary, "e2e", cols, matting=False)))
    first = next(iter(summaries.values()), {})
    if "identity_mse" in first:
        rows.append(("identity (I_d, no harmonization)", _values(first, "identity", cols, matting=False)))
    return rows


def _values(summary: dict, group: str, cols: list, matting: bool = True) -> dict:
    out = {}
    for raw_key, title, _ in cols:
        harmonization = "{g}" in raw_key
        out[title] = summary.get(raw_key.format(g=group)) if (matting or harmonization) else None
    return out


def json_safe(value):
    """NaN/inf → None, recursively (strict JSON)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def table1_markdown(summaries: dict, settings: dict, extra: dict | None = None) -> str:
    """Paper-Table-1-style Markdown: caption + table; ``extra`` = {label: {col: text}} columns
    put before the metrics (the sweep's grid values)."""
    rows, tag, cols = table_rows(summaries), side_tag(summaries), table_columns(summaries)
    extra_cols = list(dict.fromkeys(c for own in (extra or {}).values() for c in own))
    headers = ["run"] + extra_cols + [title for _, title, _ in cols]
    body = []
    for label, values in rows:
        own = (extra or {}).get(label, {})
        body.append(
            [label]
            + [str(own.get(c, "")) for c in extra_cols]
            + [fmt(values[title], pattern) for _, title, pattern in cols]
        )
    samples = next(iter(summaries.values()), {}).get("samples", 0)
    region = " (here: all pixels)" if settings.get("region") == "all" else ""
    if tag == "mask":
        caption = PAIR_CAPTION.format(samples=samples, split=settings.get("split", "?"))
        return caption + caption_note(summaries) + "\n\n" + markdown_table(headers, body)
    side, mask = SIDE_CAPTIONS[tag]
    caption = CAPTION.format(
        region=region,
        radius=settings.get("trimap_radius", "?"),
        samples=samples,
        split=settings.get("split", "?"),
        side=side,
        mask=mask,
    ) + (" " + NO_HARM_CAPTION if len(cols) > len(COLUMNS) else "")
    return caption + caption_note(summaries) + "\n\n" + markdown_table(headers, body)


def write_table_csv(path: str, summaries: dict, extra: dict | None = None) -> None:
    rows, cols = table_rows(summaries), table_columns(summaries)
    extra_cols = list(dict.fromkeys(c for own in (extra or {}).values() for c in own))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["run"] + extra_cols + [key.format(g="h") for key, _, _ in cols])
        for label, values in rows:
            own = (extra or {}).get(label, {})
            writer.writerow(
                [label]
                + [own.get(c, "") for c in extra_cols]
                + ["" if values[t] is None else repr(float(values[t])) for _, t, _ in cols]
            )


def write_samples_csv(path: str, rows: list[dict]) -> None:
    keys = ["run", "id"]
    for row in rows:
        keys += [k for k in row if k not in keys]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys, restval="")
        writer.writeheader()
        writer.writerows(rows)


def write_outputs(out: str, rows: list[dict], summaries: dict, settings: dict) -> str:
    """samples.csv, table.md, table.csv, then summary.json last (its presence = finished)."""
    os.makedirs(out, exist_ok=True)
    write_samples_csv(os.path.join(out, "samples.csv"), rows)
    table = table1_markdown(summaries, settings)
    atomic_write_text(os.path.join(out, "table.md"), table)
    write_table_csv(os.path.join(out, "table.csv"), summaries)
    summary = {"settings": settings, "runs": summaries}
    atomic_write_text(
        os.path.join(out, "summary.json"), json.dumps(json_safe(summary), indent=2, default=str) + "\n"
    )
    return table
