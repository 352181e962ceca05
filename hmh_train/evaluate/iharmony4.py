"""iHarmony4 benchmark pieces that need no network: the listed pairs read as DoveNet reads them,
per-image harmonization metrics and per-subset means.

Pairs: ``IHD_ROOT/IHD_test.txt`` (or ``IHD_train.txt``) lists composites; the mask and real
image come from DoveNet's naming rule (``hmh_builder.fsio.iharmony4_partners``). Each is read
as DoveNet's ``iharmony4_dataset.py`` does (``hmh_builder.imageio.decode_pil_resized``): PIL
RGB resized bilinearly to 256×256; the mask 1-bit, resized by the same call (nearest for 1-bit
images), stored 0/255 — the same pixels ``hmh-build iharmony4`` writes into shards.

Metrics per image (0–255 scale, ``hmh_train.evaluate.metrics``): MSE over all pixels and
channels, fMSE over the mask's pixels (3 channels), PSNR = 10·log10(peak² / MSE) with peak 255
(the standard form) or, with ``psnr_peak=None``, peak = the output's max − min (DoveNet's
``test.py``: ``data_range = output.max() − output.min()``). Means are over images, per subset
and over all images of the split (the published "all" row).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from hmh_builder.fsio import IHARMONY4_LISTS, iharmony4_partners, read_list_lines
from hmh_builder.fsio import IHARMONY4_SUBSETS as SUBSETS
from hmh_builder.imageio import DecodeError, decode_pil_resized
from hmh_train.evaluate import metrics as M

ALL = "all"
IDENTITY = "identity"
SIZE = (256, 256)


class IHarmony4Error(ValueError):
    """The source (or one pair) cannot be used; one line naming the file."""


@dataclass(frozen=True)
class PairItem:
    """One listed composite: id (the line), subset, and its three files (absolute paths)."""

    id: str
    subset: str
    composite: str
    mask: str
    real: str


@dataclass
class PairSample:
    """A read pair at the benchmark size: real and composite uint8 RGB (H, W, 3), mask uint8
    (H, W) in {0, 255} (255 = the changed region)."""

    id: str
    subset: str
    real: np.ndarray
    composite: np.ndarray
    mask: np.ndarray


def subset_of(sample_id: str) -> str:
    """The subset of a listed composite: its first folder (``HCOCO/…`` → ``HCOCO``)."""
    return sample_id.split("/", 1)[0]


def discover_pairs(root: str, split: str = "test") -> tuple[list, list]:
    """(items in list order, one-line problems) of ``root/IHD_<split>.txt``.

    A malformed or repeated line, or a composite whose composite, mask or real image file is
    missing, gives one problem line and is left out; the rest goes on. Raises IHarmony4Error
    when the list file cannot be read.
    """
    path = os.path.join(root, IHARMONY4_LISTS[split])
    try:
        lines = read_list_lines(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise IHarmony4Error(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    items, problems, seen = [], [], set()
    for number, line in lines:
        if line in seen:
            problems.append(f"{path}:{number}: repeats {line}; the repeat is ignored")
            continue
        seen.add(line)
        try:
            mask, real = iharmony4_partners(line)
        except ValueError as exc:
            problems.append(f"{path}:{number}: {exc}")
            continue
        files = [os.path.join(root, rel) for rel in (line, mask, real)]
        missing = [f for f in files if not os.path.isfile(f)]
        if missing:
            problems.append(f"{missing[0]}: missing; {line} is skipped")
            continue
        items.append(PairItem(line, subset_of(line), *files))
    return items, problems


def load_pair(item: PairItem, size=SIZE) -> PairSample:
    """Read one pair at ``size`` (H, W) as DoveNet does; IHarmony4Error (one line) when a
    file does not decode or cannot be read."""
    try:
        composite = decode_pil_resized(item.composite, "RGB", size)
        mask = decode_pil_resized(item.mask, "1", size)
        real = decode_pil_resized(item.real, "RGB", size)
    except DecodeError as exc:
        raise IHarmony4Error(f"{exc}; {item.id} is skipped") from None
    except OSError as exc:
        raise IHarmony4Error(
            f"{exc.filename}: cannot be read ({exc.strerror}); {item.id} is skipped"
        ) from None
    return PairSample(item.id, item.subset, real, composite, mask)


def _load_or_line(item: PairItem, size):
    try:
        return load_pair(item, size)
    except IHarmony4Error as exc:
        return str(exc)


def iter_pairs(items, size=SIZE, workers: int = 1):
    """Yield ``(item, PairSample or one-line problem)`` in item order, decoding on ``workers``
    threads with at most 2·workers items in flight."""
    if workers <= 1:
        for item in items:
            yield item, _load_or_line(item, size)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = []
        for item in items:
            pending.append((item, pool.submit(_load_or_line, item, size)))
            if len(pending) >= 2 * workers:
                first, future = pending.pop(0)
                yield first, future.result()
        for item, future in pending:
            yield item, future.result()


def image_metrics(pred, real, mask, psnr_peak: float | None = 255.0) -> dict:
    """{"mse", "fmse", "psnr"} of one image on the 0–255 scale.

    ``pred``, ``real``: (H, W, 3) uint8 0–255 or float 0–1; ``mask``: (H, W) bool, or uint8
    with 255 (any value ≥ 128) on the changed region. ``psnr_peak=None``: DoveNet's PSNR with
    peak = max − min of ``pred`` (on 0–255). fMSE is NaN for an empty mask; PSNR +inf when
    the images are equal.
    """
    region = mask if mask.dtype == np.bool_ else np.asarray(mask) >= 128
    mse = M.harmonization_mse(pred, real)
    if psnr_peak is None:
        values = np.asarray(pred, np.float64) * (
            1.0 if np.issubdtype(np.asarray(pred).dtype, np.integer) else 255.0
        )
        psnr_peak = float(values.max() - values.min())
    psnr = float("inf") if mse == 0 else 10.0 * math.log10(psnr_peak**2 / mse)
    return {"mse": mse, "fmse": M.fmse(pred, real, region), "psnr": psnr}


def _mean(values) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def summarise(rows) -> dict:
    """{subset: {"MSE", "fMSE", "PSNR", "samples"}} for each subset present (the published
    order, others after by name) and ``"all"``: means over images of the per-image values
    (non-finite values left out). ``rows``: dicts with "subset", "mse", "fmse", "psnr"."""
    groups = {}
    for row in rows:
        groups.setdefault(row["subset"], []).append(row)
    order = sorted(groups, key=lambda s: (SUBSETS.index(s) if s in SUBSETS else len(SUBSETS), s))
    out = {}
    for name, members in [(s, groups[s]) for s in order] + [(ALL, list(rows))]:
        out[name] = {
            "MSE": _mean(r["mse"] for r in members),
            "fMSE": _mean(r["fmse"] for r in members),
            "PSNR": _mean(r["psnr"] for r in members),
            "samples": len(members),
        }
    return out
