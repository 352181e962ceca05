"""``hmh-train table1``: the paper's Table 1 from ``hmh-train eval`` folders and a scored study.

Rows in the paper's order and with its names (``ROWS``: DM, IN, IN†, Xue, DIH, U-Net, DN,
Ours); columns Index | MSE | SAD | Grad | Conn | MOS | Std. Each row is mapped to a *source*: a
run label of an eval folder's ``summary.json`` (the run folder's name, e.g. ``matting``; a
file's stem, e.g. ``indexnet_matting``) and/or a method of the study's ``mos.csv`` (the same
names, ``study.folder.method_name``). ``--row "IN†=runs/matting"`` names it; without one, the
first of the row's ``DEFAULT_SOURCES`` that any input has is taken. A row without a figure
shows "–". The matting columns are what ``hmh-train eval`` measured, in its units (MSE as a
fraction, SAD / Grad / Conn ÷ 1000, over the trimap's unknown region).

The paper's own figures (``PUBLISHED``, from its Table 1 and text) are printed beside ours,
labelled as such; the entries the paper's text does not give are "–".
"""

from __future__ import annotations

import csv
import io
import json
import math
import os

from hmh_builder.fsio import atomic_write_text
from hmh_train.evaluate.report import DASH, markdown_table

#: The paper's rows, in its order.
ROWS = ("DM", "IN", "IN†", "Xue", "DIH", "U-Net", "DN", "Ours")
#: (summary/mos key, column title, format) of the figures, in the paper's order.
METRICS = (
    ("alpha_mse", "MSE", "{:.4f}"),
    ("sad", "SAD", "{:.3f}"),
    ("grad", "Grad", "{:.3f}"),
    ("conn", "Conn", "{:.3f}"),
    ("MOS", "MOS", "{:.2f}"),
    ("Std", "Std", "{:.2f}"),
)
#: Sources tried for a row without ``--row``, in order (case-insensitive): the names eval and
#: study give the released files and the runs of the README's recipes.
DEFAULT_SOURCES = {
    "DM": ("DM", "dim", "deep_matting"),
    "IN": ("IN", "indexnet", "indexnet_matting"),
    "IN†": ("IN†", "matting", "indexnet_finetuned"),
    "Xue": ("Xue", "xue"),
    "DIH": ("DIH", "dih"),
    "U-Net": ("U-Net", "unet", "harmonization"),
    "DN": ("DN", "dovenet", "latest_net_G"),
    "Ours": ("Ours", "joint"),
}
#: The paper's Table 1 figures given in its text (REFERENCE.md §1); None = not given there.
PUBLISHED = {
    "DM": {},
    "IN": {"MSE": 0.11, "SAD": 16.43, "Grad": 15.05, "Conn": 16.78},
    "IN†": {"MSE": 0.02, "SAD": 4.39, "Grad": 8.65, "Conn": 4.8},
    "Xue": {"MOS": 2.32},
    "DIH": {"MOS": 2.72},
    "U-Net": {"MOS": 3.30},
    "DN": {"MOS": 3.15},
    "Ours": {"MSE": 0.02, "SAD": 3.96, "Grad": 8.68, "Conn": 3.84, "MOS": 3.58, "Std": 0.5},
}
CAPTION = (
    "Table 1 as measured by this toolkit. Matting (MSE, SAD, Grad, Conn): `hmh-train eval` on "
    "{evals}, over the trimap's unknown region, MSE as a fraction, SAD / Grad / Conn ÷ 1000. "
    'MOS and Std (1–5): {study}. Each row\'s source is named in the last column; "–": no figure.'
)
PUBLISHED_CAPTION = (
    'The paper\'s published Table 1, for reference (its figures, not ours; "–" where its text '
    "gives none). Its units are the paper's own."
)


class Table1Error(ValueError):
    """An unusable input (one line naming the file)."""


def read_eval(folder: str) -> dict:
    """{run label: summary dict} of an ``hmh-train eval`` folder (its ``summary.json``)."""
    path = folder if folder.endswith(".json") else os.path.join(folder, "summary.json")
    try:
        with open(path, encoding="utf-8") as handle:
            summary = json.load(handle)
        if summary.get("kind") == "harmonization" and "runs" not in summary:
            raise Table1Error(
                f"{path}: an eval of harmonization-pair shards (no matting figures); Table 1's "
                "matting columns come from hmh-train eval on HMH shards"
            )
        runs = summary["runs"]
    except FileNotFoundError:
        raise Table1Error(f"{path}: no such file (give a folder written by hmh-train eval)") from None
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise Table1Error(f"{path}: not an hmh-train eval summary (expected JSON with 'runs')") from None
    if not isinstance(runs, dict):
        raise Table1Error(f"{path}: 'runs' is not a mapping of run labels")
    return runs


def read_mos(study: str) -> dict:
    """{method: {"MOS", "Std"}} from ``mos.csv`` (the file, its folder, or the study folder
    whose ``results/`` holds it, as ``hmh-train study score`` writes it)."""
    candidates = [study, os.path.join(study, "mos.csv"), os.path.join(study, "results", "mos.csv")]
    path = next((p for p in candidates if os.path.isfile(p)), None)
    if path is None:
        raise Table1Error(f"{study}: no mos.csv (run hmh-train study score {study} first)")
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if not {"method", "MOS", "Std"} <= set(reader.fieldnames or ()):
            raise Table1Error(f"{path}: expected the columns method, MOS, Std of hmh-train study score")
        return {r["method"]: {"MOS": _number(r["MOS"]), "Std": _number(r["Std"])} for r in reader}


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def source_name(value: str) -> str:
    """The label a ``--row`` value stands for: an existing run folder or checkpoint file gives
    the name ``hmh-train eval`` labels it with (``evaluate.run.run_name``); anything else
    (e.g. ``xue``, ``indexnet_matting``) is the label itself."""
    from hmh_train.evaluate.run import run_name

    if os.path.exists(value):
        return run_name(value, set())
    return value


def parse_rows(items) -> dict:
    """{paper row: source label} from ``ROW=SOURCE`` items; Table1Error for a bad one."""
    mapping = {}
    for item in items:
        name, sep, value = item.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not value:
            raise Table1Error(f"--row {item!r}: expected ROW=RUN_OR_METHOD, e.g. 'IN†=runs/matting'")
        if name not in ROWS:
            raise Table1Error(f"--row {item!r}: unknown row {name!r} (rows: {', '.join(ROWS)})")
        mapping[name] = source_name(value)
    return mapping


def _key(name: str, table: dict) -> str | None:
    """``name`` if ``table`` has it, else the key equal to it ignoring case; None if none."""
    if name in table:
        return name
    return next((k for k in table if k.lower() == name.lower()), None)


def _find(name: str, table: dict):
    """The entry of ``table`` under ``_key(name, table)``; None if none."""
    key = _key(name, table)
    return None if key is None else table[key]


def resolve_sources(runs: dict, mos: dict, mapping: dict) -> dict:
    """{paper row: source label or None}: ``mapping``'s, else the first default source found
    among the eval labels and study methods."""
    chosen = {}
    for row in ROWS:
        if row in mapping:
            chosen[row] = mapping[row]
            continue
        found = [_key(s, runs) or _key(s, mos) for s in DEFAULT_SOURCES[row]]
        chosen[row] = next((k for k in found if k is not None), None)
    return chosen


def table_values(runs: dict, mos: dict, sources: dict) -> dict:
    """{paper row: {column title: value or None}} from the merged eval runs and MOS table."""
    out = {}
    for row in ROWS:
        source = sources[row]
        summary = (_find(source, runs) or {}) if source else {}
        rating = (_find(source, mos) or {}) if source else {}
        values = {}
        for key, title, _ in METRICS:
            value = rating.get(key) if title in ("MOS", "Std") else summary.get(key)
            values[title] = value if isinstance(value, (int, float)) and math.isfinite(value) else None
        out[row] = values
    return out


def _fmt(value, pattern: str) -> str:
    return DASH if value is None else pattern.format(value)


def render_markdown(values: dict, sources: dict, evals, study) -> str:
    """table1.md: our table (with each row's source), then the paper's, both in the paper's
    layout."""
    titles = [title for _, title, _ in METRICS]
    ours = [[row] + [_fmt(values[row][t], p) for _, t, p in METRICS] + [sources[row] or DASH] for row in ROWS]
    paper = [[row] + [_fmt(PUBLISHED[row].get(t), "{:g}") for t in titles] for row in ROWS]
    caption = CAPTION.format(
        evals=", ".join(f"`{os.path.basename(os.path.normpath(e))}`" for e in evals) or "no eval folder",
        study=f"the scored study `{os.path.basename(os.path.normpath(study))}`"
        if study
        else "no study given",
    )
    return (
        "# Table 1\n\n"
        + caption
        + "\n\n"
        + markdown_table(["Index", *titles, "source"], ours)
        + "\n"
        + PUBLISHED_CAPTION
        + "\n\n"
        + markdown_table(["Index (paper)", *titles], paper)
    )


def render_csv(values: dict, sources: dict) -> str:
    """table1.csv: one row per paper row, ours beside the paper's (``paper_*``); empty = none."""
    titles = [title for _, title, _ in METRICS]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["Index", "source", *titles, *(f"paper_{t}" for t in titles)])
    for row in ROWS:
        ours = ["" if values[row][t] is None else repr(float(values[row][t])) for t in titles]
        paper = ["" if PUBLISHED[row].get(t) is None else repr(float(PUBLISHED[row][t])) for t in titles]
        writer.writerow([row, sources[row] or "", *ours, *paper])
    return buffer.getvalue()


def make_table1(evals, study: str | None, row_items, out: str) -> dict:
    """Write ``out`` (Markdown) and the CSV beside it (same name, ``.csv``); returns {"markdown",
    "csv", "values", "sources", "notes"} (notes: labels found in several eval folders)."""
    runs, notes = {}, []
    for folder in evals:
        for label, summary in read_eval(folder).items():
            if label in runs:
                notes.append(f"{label}: in several eval folders; the first one's figures are used")
                continue
            runs[label] = summary
    mos = read_mos(study) if study else {}
    mapping = parse_rows(row_items)
    for row, source in mapping.items():
        if _key(source, runs) is None and _key(source, mos) is None:
            notes.append(
                f"--row {row}={source}: no eval run or study method is called {source!r}; the row stays empty"
            )
    sources = resolve_sources(runs, mos, mapping)
    values = table_values(runs, mos, sources)
    csv_path = os.path.splitext(out)[0] + ".csv"
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    atomic_write_text(out, render_markdown(values, sources, evals, study))
    atomic_write_text(csv_path, render_csv(values, sources))
    return {"markdown": out, "csv": csv_path, "values": values, "sources": sources, "notes": notes}
