"""``hmh-train eval``: the paper's Table 1 metrics for one or several trained runs.

For every test sample (fixed order, no randomness):

- **Matting** (when the checkpoint has a matting net): the trimap is made from the true alpha
  by ``augment.trimap_from_alpha`` with the fixed radius ``augment.EVAL_TRIMAP_RADIUS``
  (unknown = 0 < α < 1 widened by a 10-pixel disk); A_r is predicted with the known regions
  pasted; MSE, SAD, Grad, Conn (``hmh_train.evaluate.metrics``, float A_r, uint8 A) over the unknown
  region (``region="unknown"``) or the whole image (``region="all"``).
- **Harmonization** (when it has a harmonization net): input the stored disharmonious
  composite I_d with the mask of the side the shards alter (``forward.region_mask`` of the
  **true** alpha: 1 − A for an altered background, A for an altered foreground), so runs with
  and without a matting net are compared on the same input; output I_h vs the real image I:
  MSE, fMSE over the altered region (``metrics.altered_region``: the **background**, α < 1,
  key ``fmse_bg``; or the **person**, α > 0, key ``fmse_fg``), PSNR. With both nets, the same
  metrics are also reported end to end, fed exactly as ``steps.joint_step`` feeds the U-Net
  (``forward.altered_input``: A_r·I + (1 − A_r)·I_d with mask 1 − A_r, or A_r·I_d +
  (1 − A_r)·I with mask A_r).
- **Identity baseline**: I_d itself vs I, i.e. what doing nothing scores.

A run may also be a non-learned method by name (``infer.methods``, e.g. ``xue``): its row is
made like any harmonizer's (no matting metrics; images it cannot adjust are scored unchanged
and counted in one line). A checkpoint whose harmonizer was trained on the other side is refused with one line unless
``allow_other_side`` (``train.checkpoint.check_side``); the released DoveNet file has no side.
The harmonizer runs in the output form its run trained with (``Nets.harmonizer_output``;
``paper`` for DoveNet's released file), or ``EvalConfig.harmonizer_output`` for every run.

Outputs in ``out``: ``samples.csv`` (one row per run and sample), ``summary.json`` (means per
run and the settings) and ``table.md`` (+ ``table.csv``), laid out like the paper's Table 1.
Means: plain averages over samples; PSNR averages the per-image dB values (iHarmony4's way).

Harmonization-pair shards (``hmh-build iharmony4``) are evaluated by
``hmh_train.evaluate.pair_eval`` instead: the harmonizer on the stored composite and mask,
MSE / fMSE over the mask / PSNR per subset and over all, the identity row, the iHarmony4 table.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np
import torch

from hmh_train.data.augment import EVAL_TRIMAP_RADIUS, trimap_from_alpha
from hmh_train.evaluate import metrics as M
from hmh_train.evaluate.report import no_harm_figures
from hmh_train.infer.ops import harmonize_any_size, predict_alpha_any_size, trimap_to_uint8
from hmh_train.nets.forward import altered_input, check_output_form, region_mask
from hmh_train.train.distributed import pick_device

MATTING_KEYS = ("alpha_mse", "sad", "grad", "conn", "alpha_bias")
GROUPS = ("harm", "e2e", "identity")  # I_h with true α, I_h with predicted α, I_d as is
#: Short name of each altered side in metric keys and table titles (fmse_bg, "H-fMSE (fg)").
SIDE_TAGS = {"background": "bg", "foreground": "fg"}


@dataclass(frozen=True)
class EvalConfig:
    """Settings of ``hmh-train eval`` (see ``hmh-train eval --help``)."""

    runs: tuple = ()  # run folders or .pt files; the first is --ckpt
    shards: str = ""
    split: str = "test"
    region: str = "unknown"  # unknown | all (matting metrics)
    out: str | None = None
    batch_size: int = 8
    device: str = "auto"
    trimap_radius: int = EVAL_TRIMAP_RADIUS
    limit: int | None = None  # first N samples only (quick looks)
    allow_other_side: bool = False  # evaluate a harmonizer trained on the other side anyway
    harmonizer_output: str | None = None  # output form for every run; None = each run's own
    progress: bool = True


def run_name(path: str, taken: set) -> str:
    """A short table label, unique: the run folder's name; ``RUN/best`` for a file in
    ``RUN/checkpoints/``; otherwise the file name without its extension (an official
    ``indexnet_matting.pth.tar`` → ``indexnet_matting``)."""
    path = os.path.normpath(os.fspath(path))
    name = os.path.basename(path)
    if not os.path.isdir(path):
        stem = name.split(".")[0] or name
        if os.path.basename(os.path.dirname(path)) == "checkpoints":
            name = f"{os.path.basename(os.path.dirname(os.path.dirname(path))) or 'ckpt'}/{stem}"
        else:
            name = stem
    base, k = name, 2
    while name in taken:
        name, k = f"{base}#{k}", k + 1
    taken.add(name)
    return name


def default_out(cfg: EvalConfig) -> str:
    first = os.path.normpath(cfg.runs[0])
    where = first if os.path.isdir(first) else os.path.dirname(os.path.dirname(first)) or "."
    return os.path.join(where, f"eval-{cfg.split}")


def _harm_metrics(pred: np.ndarray, real: np.ndarray, region: np.ndarray, tag: str) -> dict:
    return {
        "mse": M.harmonization_mse(pred, real),
        f"fmse_{tag}": M.fmse(pred, real, region),
        "psnr": M.psnr(pred, real),
    }


def sample_rows(batch_np: dict, alpha_r, harmonized, e2e) -> list[dict]:
    """Per-sample metric dicts of one batch (numpy inputs, see ``evaluate_batch``); fMSE over
    ``metrics.altered_region`` of the true alpha and ``batch_np["altered"]``."""
    rows, side = [], batch_np["altered"]
    tag = SIDE_TAGS[side]
    for i, sample_id in enumerate(batch_np["id"]):
        real, alpha, trimap = batch_np["I"][i], batch_np["A"][i], batch_np["trimap"][i]
        altered = M.altered_region(alpha, side)
        row = {
            "id": sample_id,
            "unknown_pixels": int((trimap == 128).sum()),
            f"{side}_pixels": int(altered.sum()),
        }
        if alpha_r is not None:
            row.update(
                zip(
                    MATTING_KEYS,
                    (
                        fn(alpha_r[i], alpha, trimap, batch_np["region"])
                        for fn in (M.mse, M.sad, M.gradient_error, M.connectivity_error, M.alpha_bias)
                    ),
                    strict=False,
                )
            )
        for group, images in (("harm", harmonized), ("e2e", e2e), ("identity", batch_np["I_d"])):
            if images is not None:
                row.update(
                    {f"{group}_{k}": v for k, v in _harm_metrics(images[i], real, altered, tag).items()}
                )
        rows.append(row)
    return rows


def _hwc(x: torch.Tensor) -> np.ndarray:
    return x.detach().float().cpu().permute(0, 2, 3, 1).numpy()


@torch.no_grad()
def evaluate_batch(
    nets, raw: dict, device, radius: int, region: str, altered: str = "background"
) -> list[dict]:
    """Metrics of one uint8 loader batch for the networks present in ``nets``; ``altered``:
    the side the shards alter (the harmonizer's mask and the fMSE region)."""
    image = raw["I"].to(device).float() / 255.0
    alpha = raw["A"].to(device).float() / 255.0
    disharmonious = raw["I_d"].to(device).float() / 255.0
    trimap = trimap_from_alpha(alpha, radius)
    alpha_r = harmonized = e2e = None
    if nets.matting is not None:
        alpha_r = predict_alpha_any_size(nets.matting, image, trimap)
    if nets.harmonization is not None:
        form = nets.harmonizer_output
        harmonized = _hwc(
            harmonize_any_size(nets.harmonization, disharmonious, region_mask(alpha, altered), output=form)
        )
        if alpha_r is not None:  # as trained: I_d inside the region of A_r to adjust, I outside
            e2e_input, e2e_mask = altered_input(alpha_r, image, disharmonious, altered)
            e2e = _hwc(harmonize_any_size(nets.harmonization, e2e_input, e2e_mask, output=form))
    batch_np = {
        "id": list(raw["id"]),
        "I": raw["I"].permute(0, 2, 3, 1).numpy(),
        "A": raw["A"][:, 0].numpy(),
        "I_d": raw["I_d"].permute(0, 2, 3, 1).numpy(),
        "trimap": trimap_to_uint8(trimap[:, 0]),
        "region": region,
        "altered": altered,
    }
    alpha_np = None if alpha_r is None else alpha_r[:, 0].double().cpu().numpy()
    return sample_rows(batch_np, alpha_np, harmonized, e2e)


def evaluate_checkpoint(path: str, dataset, cfg: EvalConfig, label: str, log=None) -> list[dict]:
    """Per-sample rows for one checkpoint over ``dataset`` (in order, first ``cfg.limit``);
    ``log`` gets the line(s) saying what was loaded from ``path``."""
    from tqdm import tqdm

    from hmh_train.data.shards import altered_side
    from hmh_train.evaluate.pair_eval import pair_rows
    from hmh_train.infer.methods import load_harmonizer
    from hmh_train.train.checkpoint import check_side

    device = pick_device(cfg.device)
    nets, config = load_harmonizer(path, device=device, log=log)
    side = altered_side(dataset)
    check_side(path, config, nets, cfg.shards, side, cfg.allow_other_side)
    if nets.harmonization is not None:
        nets.harmonizer_output = check_output_form(cfg.harmonizer_output, nets.harmonizer_output, path)
    pairs = side is None
    if pairs and nets.harmonization is None:
        raise ValueError(
            f"{path}: the checkpoint holds no harmonization net, and "
            f"{cfg.shards} holds harmonization pairs (no alpha to score matting on)"
        )
    if nets.matting is None and nets.harmonization is None:
        raise ValueError(f"{path}: the checkpoint holds neither a matting nor a harmonization net")
    count = len(dataset) if cfg.limit is None else min(cfg.limit, len(dataset))
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(dataset, range(count)),
        batch_size=cfg.batch_size,
        shuffle=False,
        num_workers=0,
    )
    rows = []
    previous = torch.backends.cudnn.deterministic
    torch.backends.cudnn.deterministic = True
    try:
        for raw in tqdm(loader, desc=f"eval {label}", unit="batch", disable=not cfg.progress):
            rows.extend(
                pair_rows(nets, raw, device)
                if pairs
                else evaluate_batch(nets, raw, device, cfg.trimap_radius, cfg.region, side)
            )
    finally:
        torch.backends.cudnn.deterministic = previous
    for row in rows:
        row["run"] = label
        if nets.harmonization is not None:
            row["harmonizer_output"] = nets.harmonizer_output
    note = getattr(nets.harmonization, "skipped_note", lambda total: None)(len(rows))
    if note and log is not None:
        log(note)
    return rows


def summarise(rows: list[dict]) -> dict:
    """Mean of every metric column over the rows (NaN/inf skipped); ``samples`` = row count;
    then the harmonizer's per-image "no harm" figures (``report.no_harm_figures``)."""
    summary = {"samples": len(rows)}
    keys = (
        [k for k, v in rows[0].items() if k not in ("id", "run") and not isinstance(v, str)] if rows else []
    )
    for key in keys:
        values = np.array([r[key] for r in rows if key in r], dtype=np.float64)
        finite = values[np.isfinite(values)]
        summary[key] = float(finite.mean()) if finite.size else float("nan")
    summary.update(no_harm_figures(rows))
    return summary


def evaluate(cfg: EvalConfig) -> dict:
    """Evaluate every run of ``cfg.runs``; write samples.csv, summary.json, table.md/.csv.

    Returns {"out": folder, "runs": {label: summary}, "table": markdown text, "loaded": the
    lines saying what each checkpoint gave}.
    """
    from hmh_train.data.shards import ShardDataset
    from hmh_train.evaluate.report import write_outputs
    from hmh_train.infer.methods import is_method, no_such_run
    from hmh_train.train.checkpoint import checkpoint_file

    if cfg.region not in ("unknown", "all"):
        raise ValueError(f"region must be 'unknown' or 'all', got {cfg.region!r}")
    # fail before reading any data; a method name (``infer.methods``) stands for itself
    for path in cfg.runs:
        if not is_method(path) and not os.path.exists(path):
            raise ValueError(no_such_run(path))
    files = [path if is_method(path) else checkpoint_file(path) for path in cfg.runs]
    dataset = ShardDataset(cfg.shards, split=cfg.split)
    out = cfg.out or default_out(cfg)
    taken, all_rows, summaries, loaded = set(), [], {}, []
    for path, file in zip(cfg.runs, files, strict=False):
        label = run_name(path, taken)
        rows = evaluate_checkpoint(file, dataset, cfg, label, loaded.append)
        summaries[label] = summarise(rows)
        all_rows.extend(rows)
    settings = {k: v for k, v in asdict(cfg).items() if k != "progress"}
    settings["runs"] = list(cfg.runs)
    settings["checkpoint_files"] = dict(zip(summaries, files, strict=False))
    settings["harmonizer_outputs"] = {
        row["run"]: row["harmonizer_output"] for row in all_rows if "harmonizer_output" in row
    }
    if dataset.kind == "harmonization":
        from hmh_train.evaluate.pair_eval import write_pair_outputs

        by_run = {}
        for row in all_rows:
            by_run.setdefault(row.pop("run"), []).append(row)
        written = write_pair_outputs(out, by_run, settings, dataset.size)
        return {
            "out": out,
            "runs": summaries,
            "table": written["table"],
            "results": written["results"],
            "loaded": loaded,
            "harmonizer_outputs": settings["harmonizer_outputs"],
        }
    settings["altered"] = dataset.altered  # the harmonizer's mask and the fMSE region
    table = write_outputs(out, all_rows, summaries, settings)
    return {
        "out": out,
        "runs": summaries,
        "table": table,
        "loaded": loaded,
        "harmonizer_outputs": settings["harmonizer_outputs"],
    }
