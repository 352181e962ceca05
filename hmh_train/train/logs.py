"""Run logging: CSV (always), TensorBoard scalars and image grids (when installed), progress bar.

``RUN/metrics.csv`` gets one row per ``log_every`` steps (mean of each loss over those steps,
learning rates, samples/s); ``RUN/val.csv`` one row per validation. Both are appended to on
resume, after dropping rows newer than the checkpoint resumed from. TensorBoard event files go
to ``RUN/tb/`` (events after that step are purged too). Only rank 0 creates a ``RunLogger`` that
writes; other ranks get one with ``enabled=False`` that does nothing.
"""

from __future__ import annotations

import csv
import math
import os
import sys

import torch


class CsvLog:
    """Append rows (dicts) to a CSV file; the header is fixed by the first row ever written."""

    def __init__(self, path: str):
        self.path = path
        self.fields = None
        if os.path.exists(path) and os.path.getsize(path) > 0:
            with open(path, newline="", encoding="utf-8") as handle:
                self.fields = next(csv.reader(handle))

    def drop_after(self, step: int) -> None:
        """Remove rows logged after ``step`` (a run killed between checkpoints, then resumed)."""
        if self.fields is None:
            return
        rows = read_csv(self.path)
        kept = [r for r in rows if int(r["step"]) <= step]
        if len(kept) == len(rows):
            return
        tmp = f"{self.path}.tmp"
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.fields)
            writer.writeheader()
            writer.writerows(kept)
        os.replace(tmp, self.path)

    def write(self, row: dict) -> None:
        new = self.fields is None
        if new:
            self.fields = list(row)
        with open(self.path, "a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.fields, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)


def read_csv(path: str) -> list[dict]:
    """Rows of a CSV log as dicts of strings."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def image_grid(columns: dict, max_rows: int = 4) -> torch.Tensor:
    """One ``(3, rows·H, cols·W)`` float [0, 1] grid: a row per sample, a column per named image.

    ``columns`` maps a name to ``(B, C, H, W)`` float [0, 1] with C = 1 (shown grey) or 3 (RGB).
    """
    rows = []
    for i in range(min(max_rows, next(iter(columns.values())).shape[0])):
        cells = [t[i].detach().float().cpu().clamp(0, 1).expand(3, -1, -1) for t in columns.values()]
        rows.append(torch.cat(cells, dim=2))
    return torch.cat(rows, dim=1)


class RunLogger:
    """Scalars to CSV and TensorBoard, image grids to TensorBoard, losses on a tqdm bar."""

    def __init__(
        self,
        run_dir: str,
        enabled: bool = True,
        total_steps: int | None = None,
        initial_step: int = 0,
        progress: bool = True,
    ):
        self.enabled = enabled
        self.tb = self.bar = None
        if not enabled:
            return
        os.makedirs(run_dir, exist_ok=True)
        self.train_csv = CsvLog(os.path.join(run_dir, "metrics.csv"))
        self.val_csv = CsvLog(os.path.join(run_dir, "val.csv"))
        for log in (self.train_csv, self.val_csv):
            log.drop_after(initial_step)
        try:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step drops events at steps >= it: keep the checkpoint's own step
            self.tb = SummaryWriter(
                os.path.join(run_dir, "tb"), purge_step=initial_step + 1 if initial_step else None
            )
        except ImportError:  # tensorboard is an optional extra
            self.tb = None
        if progress:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total_steps,
                initial=initial_step,
                unit="step",
                file=sys.stderr,
                dynamic_ncols=True,
                disable=None,
            )

    def step(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def scalars(self, step: int, row: dict, split: str = "train") -> None:
        """Write ``row`` (must include ``step``) to the split's CSV and TensorBoard."""
        if not self.enabled:
            return
        (self.train_csv if split == "train" else self.val_csv).write(row)
        if self.tb is not None:
            for key, value in row.items():
                if key not in ("step", "epoch") and isinstance(value, (int, float)) and math.isfinite(value):
                    self.tb.add_scalar(f"{split}/{key}", value, step)
        if self.bar is not None and split == "train":
            shown = {k: f"{v:.4g}" for k, v in row.items() if k.startswith("loss")}
            self.bar.set_postfix(shown, refresh=False)

    def images(self, step: int, columns: dict) -> None:
        if self.enabled and self.tb is not None:
            self.tb.add_image("samples/" + "|".join(columns), image_grid(columns), step)

    def message(self, text: str) -> None:
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.tb is not None:
            self.tb.close()
