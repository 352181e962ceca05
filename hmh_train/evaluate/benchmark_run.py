"""``hmh-train eval --benchmark composition-1k|iharmony4``: the field's two test sets, read from
their published layouts, scored with the published procedures, in the published tables' units.

One pass over the test set (decoded — and for Composition-1k composed — once, on ``workers``
threads, in list order) runs every checkpoint on each image, so several runs cost one decode.
``limit`` keeps the first N listed images. A file that is missing or does not decode, or a list
entry without a partner, costs only its image: one line in ``failures.txt`` (and on the
console), the rest goes on, and the caption says how many of the listed images were scored.

Outputs in ``out``: ``samples.csv`` (one row per run and image), ``table.md`` (caption naming
the procedure/protocol, the table, the published row(s) for reference), ``table.csv`` (header
``run,SAD,MSE,Grad,Conn`` or ``run,subset,MSE,fMSE,PSNR``), ``failures.txt``, optionally
``predictions/<run>/…`` (the alphas / harmonized images scored, PNG), and ``summary.json`` last.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass

import torch

from hmh_builder.fsio import IHARMONY4_LISTS, atomic_write_text
from hmh_train.evaluate import benchmark_comp1k as BC
from hmh_train.evaluate import benchmark_ihd as BH
from hmh_train.evaluate import composition1k as C
from hmh_train.evaluate import iharmony4 as H
from hmh_train.evaluate.benchmark_tables import (
    PUBLISHED_IHARMONY4,
    summarise_matting,
    write_composition1k_table,
    write_iharmony4_table,
)
from hmh_train.evaluate.report import json_safe, write_samples_csv
from hmh_train.evaluate.run import run_name

BENCHMARKS = ("composition-1k", "iharmony4")
NEEDS = {"composition-1k": "matting", "iharmony4": "harmonization"}
HINTS = {
    "matting": "IndexNet's or Deep Image Matting's .pth.tar or a run with a matting net",
    "harmonization": "DoveNet's latest_net_G.pth or a run with a harmonization net",
}


@dataclass(frozen=True)
class BenchmarkConfig:
    """Settings of ``hmh-train eval --benchmark`` (see ``hmh-train eval --help``)."""

    benchmark: str = "composition-1k"  # composition-1k | iharmony4
    runs: tuple = ()  # run folders, .pt files, released files; first = --ckpt
    src: str = ""  # Combined_Dataset (or Test_set) | IHD root
    backgrounds: str | None = None  # PASCAL VOC 2012 (Adobe layout)
    layout: str = "auto"  # auto | adobe | merged (Composition-1k)
    split: str = "test"  # iHarmony4 list: IHD_test.txt / IHD_train.txt
    protocol: str = "standard"  # standard | dovenet (iHarmony4)
    seed: int = 0  # dovenet protocol: dropout draws
    out: str | None = None
    device: str = "auto"
    limit: int | None = None  # first N listed images only
    workers: int = 1  # decoding threads
    save_predictions: bool = False
    harmonizer_output: str | None = None  # iHarmony4: output form of every run; None = each run's own
    progress: bool = True


def check(cfg: BenchmarkConfig) -> None:
    """ValueError (one line) for settings that cannot work."""
    if cfg.benchmark not in BENCHMARKS:
        raise ValueError(f"benchmark must be one of {', '.join(BENCHMARKS)}, got {cfg.benchmark!r}")
    if cfg.protocol not in BH.PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(BH.PROTOCOLS)}, got {cfg.protocol!r}")
    if not cfg.runs:
        raise ValueError("give at least one checkpoint (--ckpt)")
    if not os.path.isdir(cfg.src):
        raise ValueError(f"{cfg.src or '--src'}: no such folder")
    if cfg.benchmark == "iharmony4" and cfg.split not in IHARMONY4_LISTS:
        raise ValueError(f"the iHarmony4 lists are {', '.join(IHARMONY4_LISTS)}; got --split {cfg.split!r}")
    if cfg.workers < 1 or (cfg.limit is not None and cfg.limit < 1):
        raise ValueError("--workers and --limit must be at least 1")


def default_out(cfg: BenchmarkConfig) -> str:
    """Beside the first checkpoint: ``eval-composition-1k`` or ``eval-iharmony4-SPLIT-PROTOCOL``."""
    first = os.path.normpath(cfg.runs[0])
    where = first if os.path.isdir(first) else os.path.dirname(os.path.dirname(first)) or "."
    name = (
        "eval-composition-1k"
        if cfg.benchmark == "composition-1k"
        else f"eval-iharmony4-{cfg.split}-{cfg.protocol}"
    )
    return os.path.join(where, name)


def load_runs(cfg: BenchmarkConfig, device, log) -> tuple[dict, dict]:
    """({unique run label: the network the benchmark needs}, {label: harmonizer output form})
    for every checkpoint, in order; the form (iHarmony4 only) is the one the run trained its
    harmonizer with, or ``cfg.harmonizer_output`` (``forward.check_output_form``)."""
    from hmh_train.nets.forward import check_output_form
    from hmh_train.train.checkpoint import checkpoint_file, load_nets

    need = NEEDS[cfg.benchmark]
    files = [checkpoint_file(path) for path in cfg.runs]  # every path checked before loading
    taken, nets, forms = ({H.IDENTITY} if cfg.benchmark == "iharmony4" else set()), {}, {}
    for path, file in zip(cfg.runs, files, strict=False):
        loaded, _ = load_nets(file, device=device, log=log)
        net = getattr(loaded, need)
        if net is None:
            raise ValueError(
                f"{path}: holds no {need} network, which {cfg.benchmark} needs (give {HINTS[need]})"
            )
        label = run_name(path, taken)
        nets[label] = net
        if need == "harmonization":
            forms[label] = check_output_form(cfg.harmonizer_output, loaded.harmonizer_output, path)
    return nets, forms


def discover(cfg: BenchmarkConfig) -> tuple[list, list, str]:
    """(items, problem lines, source kind) of the test set, before ``limit``."""
    if cfg.benchmark == "composition-1k":
        items, problems = C.discover(cfg.src, cfg.backgrounds, cfg.layout)
        kind = "merged" if items and items[0].merged is not None else "adobe"
        return items, problems, kind
    items, problems = H.discover_pairs(cfg.src, cfg.split)
    return items, problems, "iharmony4"


def _safe(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._#=-]+", "_", label)


def prediction_writer(out: str, benchmark: str):
    """``(label, id, image)`` → ``out/predictions/<label>/<id>.png`` (a float image in [0, 1]
    is rounded to uint8); ids keep their folders (iHarmony4: ``HCOCO/composite_images/…``)."""
    import numpy as np

    from hmh_train.infer.composite import write_image

    def write(label: str, sample_id: str, image) -> None:
        stem = os.path.splitext(sample_id)[0]
        path = os.path.join(out, "predictions", _safe(label), *stem.split("/")) + ".png"
        if image.dtype != np.uint8:
            image = np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
        write_image(path, image)

    return write


def score(
    cfg: BenchmarkConfig, nets: dict, items: list, problems: list, on_output=None, forms: dict | None = None
) -> list:
    """Rows of every run on every item (list order); an item that cannot be read adds its
    line to ``problems`` instead. ``forms``: {label: harmonizer output form} (iHarmony4)."""
    from tqdm import tqdm

    matting = cfg.benchmark == "composition-1k"
    samples = C.iter_samples(items, cfg.workers) if matting else H.iter_pairs(items, workers=cfg.workers)
    rows = []
    for _, sample in tqdm(
        samples,
        total=len(items),
        desc=cfg.benchmark,
        unit="image" if matting else "pair",
        disable=not cfg.progress,
    ):
        if isinstance(sample, str):
            problems.append(sample)
        elif matting:
            rows.extend(BC.matting_rows(nets, sample, on_output))
        else:
            rows.extend(BH.pair_rows(nets, sample, cfg.protocol, cfg.seed, on_output, forms))
    return rows


def _by_run(rows: list, labels) -> dict:
    grouped = {label: [] for label in labels}
    for row in rows:
        grouped.setdefault(row["run"], []).append(row)
    return grouped


def write_tables(cfg: BenchmarkConfig, out: str, rows: list, labels, info: dict) -> tuple[str, dict]:
    """table.md / table.csv of the benchmark; returns (Markdown, results per run)."""
    evaluated, listed, kind = info["evaluated"], info["listed"], info["kind"]
    grouped = _by_run(rows, labels)
    if cfg.benchmark == "composition-1k":
        results = {label: summarise_matting(grouped[label]) for label in labels}
        remarks = {label: f"{results[label]['samples']} images, this toolkit" for label in labels}
        text = write_composition1k_table(
            out, results, BC.caption(kind, evaluated, listed, cfg.limit), remarks
        )
        return text, results
    results = {label: H.summarise(grouped[label]) for label in list(labels) + [H.IDENTITY]}
    reference = cfg.split == "test"
    text = write_iharmony4_table(
        out,
        results,
        BH.caption(cfg.protocol, cfg.split, evaluated, listed, cfg.limit, reference),
        PUBLISHED_IHARMONY4 if reference else None,
    )
    return text, results


def run_benchmark(cfg: BenchmarkConfig) -> dict:
    """Run the benchmark; write the outputs (module docstring). Returns {"out", "table",
    "results", "problems" (lines), "evaluated", "listed", "loaded" (what each checkpoint
    gave), "harmonizer_outputs" ({run: output form}, iHarmony4)}. ValueError /
    CheckpointError (one line) when nothing can be evaluated."""
    from hmh_train.train.distributed import pick_device

    check(cfg)
    items, problems, kind = discover(cfg)
    listed = len(items) + len(problems)
    if cfg.limit is not None:
        items = items[: cfg.limit]
    if not items:
        first = f"; first: {problems[0]}" if problems else ""
        raise ValueError(
            f"{cfg.src}: no usable {cfg.benchmark} test images ({len(problems)} problems{first})"
        )
    loaded = []
    device = pick_device(cfg.device)
    nets, forms = load_runs(cfg, device, loaded.append)
    out = cfg.out or default_out(cfg)
    os.makedirs(out, exist_ok=True)
    writer = prediction_writer(out, cfg.benchmark) if cfg.save_predictions else None
    previous = torch.backends.cudnn.deterministic
    torch.backends.cudnn.deterministic = True
    try:
        rows = score(cfg, nets, items, problems, writer, forms)
    finally:
        torch.backends.cudnn.deterministic = previous
    evaluated = len({row["id"] for row in rows})
    if not evaluated:
        raise ValueError(
            f"{cfg.src}: none of the {len(items)} test images could be read; first: {problems[0]}"
        )
    info = {"evaluated": evaluated, "listed": listed, "kind": kind}
    table, results = write_tables(cfg, out, rows, list(nets), info)
    write_samples_csv(os.path.join(out, "samples.csv"), rows)
    atomic_write_text(os.path.join(out, "failures.txt"), "".join(f"{line}\n" for line in problems))
    settings = {k: v for k, v in asdict(cfg).items() if k != "progress"}
    settings["runs"] = dict(zip(nets, cfg.runs, strict=False))
    if forms:
        settings["harmonizer_outputs"] = forms
    summary = {
        "benchmark": cfg.benchmark,
        "settings": settings,
        **info,
        "failed": len(problems),
        "results": results,
    }
    atomic_write_text(
        os.path.join(out, "summary.json"), json.dumps(json_safe(summary), indent=2, default=str) + "\n"
    )
    return {
        "out": out,
        "table": table,
        "results": results,
        "problems": problems,
        "evaluated": evaluated,
        "listed": listed,
        "loaded": loaded,
        "harmonizer_outputs": forms,
    }
