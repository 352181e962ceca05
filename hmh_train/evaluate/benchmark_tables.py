"""The two benchmark tables, in the units of the published ones: ``table.md`` (caption +
Markdown) and ``table.csv`` with a fixed header.

- Composition-1k: header exactly ``run,SAD,MSE,Grad,Conn``, one row per checkpoint; SAD, Grad
  and Conn ÷ 1000 and MSE a plain fraction over the trimap's unknown pixels, averaged over
  images (IndexNet's README row: 45.8, 0.013, 25.9, 43.7).
- iHarmony4: header exactly ``run,subset,MSE,fMSE,PSNR``, one row per checkpoint and subset
  (HCOCO, HAdobe5k, HFlickr, Hday2night, then ``all``); the identity row's run is
  ``identity``. MSE and fMSE on the 0–255 scale, PSNR in dB (DoveNet's README: all 50.87 /
  34.83).

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
from hmh_train.evaluate.report import fmt, markdown_table

COMPOSITION1K_HEADER = ("run", "SAD", "MSE", "Grad", "Conn")
IHARMONY4_HEADER = ("run", "subset", "MSE", "fMSE", "PSNR")
FORMATS = {"SAD": "{:.1f}", "MSE": "{:.4f}", "Grad": "{:.1f}", "Conn": "{:.1f}"}
HARM_FORMATS = {"MSE": "{:.2f}", "fMSE": "{:.2f}", "PSNR": "{:.2f}"}
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


def _write(out: str, caption: str, header, md_rows, csv_rows) -> str:
    os.makedirs(out, exist_ok=True)
    text = caption.strip() + "\n\n" + markdown_table(list(header), md_rows)
    atomic_write_text(os.path.join(out, "table.md"), text)
    atomic_write_text(os.path.join(out, "table.csv"), _csv_text(header, csv_rows))
    return text


def write_composition1k_table(out: str, summaries: dict, caption: str) -> str:
    """Write ``out/table.md`` and ``out/table.csv``; returns the Markdown.

    ``summaries``: {run label: {"SAD", "MSE", "Grad", "Conn"}} (e.g. from
    :func:`summarise_matting`), one row each in the given order.
    """
    md_rows, csv_rows = [], []
    for run, values in summaries.items():
        md_rows.append([run] + [fmt(values.get(c), FORMATS[c]) for c in COMPOSITION1K_HEADER[1:]])
        csv_rows.append([run] + [_number(values.get(c)) for c in COMPOSITION1K_HEADER[1:]])
    return _write(out, caption, COMPOSITION1K_HEADER, md_rows, csv_rows)


def write_iharmony4_table(out: str, results: dict, caption: str) -> str:
    """Write ``out/table.md`` and ``out/table.csv``; returns the Markdown.

    ``results``: {run label: {subset: {"MSE", "fMSE", "PSNR"}}} (e.g. from
    ``evaluate.iharmony4.summarise``, subsets in its order with ``all`` last); the identity
    row is the run labelled ``identity``. One row per run and subset, in the given order.
    """
    md_rows, csv_rows = [], []
    for run, subsets in results.items():
        for subset, values in subsets.items():
            md_rows.append([run, subset] + [fmt(values.get(c), HARM_FORMATS[c])
                                            for c in IHARMONY4_HEADER[2:]])
            csv_rows.append([run, subset] + [_number(values.get(c)) for c in IHARMONY4_HEADER[2:]])
    return _write(out, caption, IHARMONY4_HEADER, md_rows, csv_rows)
