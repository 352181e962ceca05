"""``hmh-train eval`` on harmonization-pair shards (``hmh-build iharmony4``).

For every pair of the split (fixed order): the harmonizer gets the stored composite I_d and
the stored mask M (1 on the changed region) and its output I_h is scored against the real
image I — MSE, fMSE over M, PSNR (peak 255), ``evaluate.iharmony4.image_metrics`` — and the
composite itself is scored the same way (the identity row: what doing nothing scores). A
checkpoint's matting network, if any, is not used (the pairs have no alpha).

Outputs: ``samples.csv`` (one row per run and pair), ``summary.json`` and the iHarmony4 table
(``table.md`` + ``table.csv`` with header ``run,subset,MSE,fMSE,PSNR``): one row per run and
subset plus ``all``, then the ``identity`` rows. Networks run in eval mode and the output is
scored as float (not quantized to 8 bit).
"""

from __future__ import annotations

import json
import os

import torch

from hmh_builder.fsio import atomic_write_text
from hmh_train.evaluate.benchmark_tables import write_iharmony4_table
from hmh_train.evaluate.iharmony4 import IDENTITY, image_metrics, subset_of, summarise
from hmh_train.evaluate.report import json_safe, write_samples_csv
from hmh_train.infer.methods import caption_note
from hmh_train.infer.ops import harmonize_any_size

GROUPS = ("harm", "identity")
CAPTION = (
    "iHarmony4-style table on {samples} pairs of split '{split}' of harmonization-pair shards "
    "({size}): MSE over all pixels and fMSE over the stored mask of the changed region on the "
    "0–255 scale, PSNR in dB with peak 255 (the standard protocol: networks in eval mode, "
    "output not quantized); means over images per subset and over all. Input: the stored "
    "composite with the stored mask; `identity` scores the composite itself."
)


@torch.no_grad()
def pair_rows(nets, raw: dict, device) -> list[dict]:
    """Per-pair metric dicts of one uint8 loader batch {I, I_d, M, id}: ``harm_*`` (when the
    checkpoint has a harmonization net) and ``identity_*`` for mse, fmse, psnr."""
    harmonized = None
    if nets.harmonization is not None:
        composite = raw["I_d"].to(device).float() / 255.0
        mask = raw["M"].to(device).float() / 255.0
        out = harmonize_any_size(nets.harmonization, composite, mask, output=nets.harmonizer_output)
        harmonized = out.float().cpu().permute(0, 2, 3, 1).numpy()
    real = raw["I"].permute(0, 2, 3, 1).numpy()
    composite_np = raw["I_d"].permute(0, 2, 3, 1).numpy()
    masks = raw["M"][:, 0].numpy()
    rows = []
    for i, sample_id in enumerate(raw["id"]):
        row = {"id": sample_id, "subset": subset_of(sample_id), "mask_pixels": int((masks[i] >= 128).sum())}
        for group, images in (("harm", harmonized), ("identity", composite_np)):
            if images is not None:
                row.update(
                    {f"{group}_{k}": v for k, v in image_metrics(images[i], real[i], masks[i]).items()}
                )
        rows.append(row)
    return rows


def _grouped(rows: list, group: str) -> list:
    return [
        {
            "subset": r["subset"],
            "mse": r[f"{group}_mse"],
            "fmse": r[f"{group}_fmse"],
            "psnr": r[f"{group}_psnr"],
        }
        for r in rows
        if f"{group}_mse" in r
    ]


def pair_results(rows_by_run: dict) -> dict:
    """{run: {subset: means}} for every run, then ``identity`` (from the first run's rows)."""
    results = {run: summarise(_grouped(rows, "harm")) for run, rows in rows_by_run.items()}
    first = next(iter(rows_by_run.values()), [])
    if first:
        results[IDENTITY] = summarise(_grouped(first, "identity"))
    return results


def write_pair_outputs(out: str, rows_by_run: dict, settings: dict, size) -> dict:
    """samples.csv, table.md/.csv, then summary.json (last); returns {"table", "results"}."""
    os.makedirs(out, exist_ok=True)
    all_rows = [dict(r, run=run) for run, rows in rows_by_run.items() for r in rows]
    write_samples_csv(os.path.join(out, "samples.csv"), all_rows)
    results = pair_results(rows_by_run)
    samples = len(next(iter(rows_by_run.values()), []))
    caption = CAPTION.format(samples=samples, split=settings.get("split", "?"), size=f"{size[0]}×{size[1]}")
    caption += caption_note(rows_by_run)
    table = write_iharmony4_table(out, results, caption)
    summary = {"settings": settings, "kind": "harmonization", "results": results}
    atomic_write_text(
        os.path.join(out, "summary.json"), json.dumps(json_safe(summary), indent=2, default=str) + "\n"
    )
    return {"table": table, "results": results}
