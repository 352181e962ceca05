"""The two benchmark tables, in the units of the published ones: ``table.md`` (caption +
Markdown) and ``table.csv`` with a fixed header.

- Composition-1k: header exactly ``run,SAD,MSE,Grad,Conn``, one row per checkpoint; SAD, Grad
  and Conn ÷ 1000 and MSE a plain fraction over the trimap's unknown pixels, averaged over
  images. The Markdown has IndexNet's README layout (``Methods | Remark | SAD | MSE | Grad |
  Conn``), values printed as its ``evaluation_code/hleval.m`` prints them (SAD, Grad, Conn
  ``%.2f``, MSE ``%.4f``), and the published row (45.8, 0.013, 25.9, 43.7) below for reference.
- iHarmony4: header exactly ``run,subset,MSE,fMSE,PSNR``, one row per checkpoint and subset
  (HCOCO, HAdobe5k, HFlickr, Hday2night, then ``all``); the identity row's run is
  ``identity``. MSE and fMSE on the 0–255 scale, PSNR in dB. The Markdown may add DoveNet's
  published rows (README: MSE / PSNR per subset; all 50.87 / 34.83) for reference.

Published rows appear only in ``table.md``, never in ``table.csv`` (one row per checkpoint).
CSV values are full-precision floats (empty for a missing value); the Markdown rounds. Both
files are written atomically. No networks, no files read.
"""

from __future__ import annotations

import csv
import io
import math
import os

import numpy as np

from hmh_builder.fsio import atomic_write_text
from hmh_train.evaluate.report import DASH, fmt, markdown_table

COMPOSITION1K_HEADER = ("run", "SAD", "MSE", "Grad", "Conn")
IHARMONY4_HEADER = ("run", "subset", "MSE", "fMSE", "PSNR")
FORMATS = {"SAD": "{:.2f}", "MSE": "{:.4f}", "Grad": "{:.2f}", "Conn": "{:.2f}"}
HARM_FORMATS = {"MSE": "{:.2f}", "fMSE": "{:.2f}", "PSNR": "{:.2f}"}
#: IndexNet's README row for its released model on Composition-1k (as printed there).
PUBLISHED_COMPOSITION1K = (
    "IndexNet Matting",
    "published (IndexNet README, released model)",
    ("45.8", "0.013", "25.9", "43.7"),
)
#: DoveNet's README rows for its released model on the iHarmony4 test sets: (subset, MSE, PSNR),
#: computed with the published protocol (``--protocol dovenet``). No fMSE per subset there.
PUBLISHED_IHARMONY4 = (
    "DoveNet (published, README)",
    (
        ("HCOCO", "33.65", "35.95"),
        ("HAdobe5k", "55.99", "34.26"),
        ("HFlickr", "125.73", "30.58"),
        ("Hday2night", "56.26", "34.76"),
        ("all", "50.87", "34.83"),
    ),
)
#: Per-image matting keys (``hmh_train.evaluate.metrics`` names) → table columns.
MATTING_KEYS = {"sad": "SAD", "mse": "MSE", "grad": "Grad", "conn": "Conn"}


def summarise_matting(rows) -> dict:
    """{"SAD", "MSE", "Grad", "Conn", "samples"}: means over images of per-image rows with keys
    "sad", "mse", "grad", "conn" (``metrics.sad`` … values; non-finite left out)."""
    out = {"samples": len(rows)}
    for key, column in MATTING_KEYS.items():
        values = [r[key] for r in rows if math.isfinite(r[key])]
        out[column] = float(np.mean(values)) if values else float("nan")
    return out


def _csv_text(header, rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _number(value) -> str:
    return "" if value is None or not math.isfinite(value) else repr(float(value))


def _write(out: str, caption: str, table: str, header, csv_rows) -> str:
    os.makedirs(out, exist_ok=True)
    text = caption.strip() + "\n\n" + table
    atomic_write_text(os.path.join(out, "table.md"), text)
    atomic_write_text(os.path.join(out, "table.csv"), _csv_text(header, csv_rows))
    return text


def write_composition1k_table(
    out: str, summaries: dict, caption: str, remarks: dict | None = None, reference=PUBLISHED_COMPOSITION1K
) -> str:
    """Write ``out/table.md`` and ``out/table.csv``; returns the Markdown.

    ``summaries``: {run label: {"SAD", "MSE", "Grad", "Conn"}} (e.g. from
    :func:`summarise_matting`), one row each in the given order; ``remarks``: {run label:
    text for the Remark column}; ``reference``: (method, remark, four value strings) appended
    to the Markdown only (None: no reference row).
    """
    columns = COMPOSITION1K_HEADER[1:]
    lines = ["| Methods | Remark | " + " | ".join(columns) + " |", "|" + " :--: |" * (2 + len(columns))]
    csv_rows = []
    for run, values in summaries.items():
        cells = [run, (remarks or {}).get(run, "")] + [fmt(values.get(c), FORMATS[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
        csv_rows.append([run] + [_number(values.get(c)) for c in columns])
    if reference is not None:
        method, remark, published = reference
        lines.append("| " + " | ".join([method, remark, *published]) + " |")
    return _write(out, caption, "\n".join(lines) + "\n", COMPOSITION1K_HEADER, csv_rows)


def write_iharmony4_table(out: str, results: dict, caption: str, reference=None) -> str:
    """Write ``out/table.md`` and ``out/table.csv``; returns the Markdown.

    ``results``: {run label: {subset: {"MSE", "fMSE", "PSNR"}}} (e.g. from
    ``evaluate.iharmony4.summarise``, subsets in its order with ``all`` last); the identity
    row is the run labelled ``identity``. One row per run and subset, in the given order.
    ``reference``: (label, ((subset, MSE, PSNR) strings, …)) appended to the Markdown only,
    e.g. :data:`PUBLISHED_IHARMONY4`.
    """
    md_rows, csv_rows = [], []
    for run, subsets in results.items():
        for subset, values in subsets.items():
            md_rows.append(
                [run, subset] + [fmt(values.get(c), HARM_FORMATS[c]) for c in IHARMONY4_HEADER[2:]]
            )
            csv_rows.append([run, subset] + [_number(values.get(c)) for c in IHARMONY4_HEADER[2:]])
    if reference is not None:
        label, rows = reference
        md_rows += [[label, subset, mse, DASH, psnr] for subset, mse, psnr in rows]
    table = markdown_table(list(IHARMONY4_HEADER), md_rows)
    return _write(out, caption, table, IHARMONY4_HEADER, csv_rows)
