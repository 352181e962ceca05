"""Composition-1k with IndexNet's published procedure: one row of metrics per run and composite.

Each test composite (``evaluate.composition1k``: composed as DIM's ``Composition_code.py`` does,
or read from IndexNet's ``Test_set/merged``) is matted at **native resolution** with IndexNet's
demo procedure (``infer.protocols.indexnet_demo_alpha``: resize up to multiples of 32, eval
mode, cubic resize back, known trimap regions pasted, truncated to uint8), and the uint8 alpha
is scored against the true alpha over the trimap's unknown pixels (= 128) with
``evaluate.metrics`` — Deep Image Matting's MATLAB definitions, which IndexNet's
``evaluation_code/hleval.m`` runs on the PNGs the demo writes: SAD, Grad and Conn ÷ 1000, MSE
a fraction. Table means are over images (``benchmark_tables.summarise_matting``).
"""

from __future__ import annotations

import numpy as np

from hmh_train.evaluate import metrics as M
from hmh_train.infer.protocols import indexnet_demo_alpha

#: Per-image keys of a row (``benchmark_tables.MATTING_KEYS`` maps them to table columns).
SCORES = ("sad", "mse", "grad", "conn")
CAPTION = (
    "Composition-1k, {source}: {evaluated} of the {listed} listed test composites{limited}. "
    "Alpha predicted at native resolution with IndexNet's demo procedure (scripts/demo.py: "
    "resize up to multiples of 32, eval mode, cubic resize back, trimap's known regions pasted, "
    "uint8). SAD, Grad and Conn ÷ 1000 and MSE as a fraction, over the trimap's unknown pixels "
    "(Deep Image Matting's MATLAB definitions, as IndexNet's evaluation_code/hleval.m), means over "
    "images. The last row is the published figure (all 1,000 composites), for reference."
)
SOURCES = {
    "adobe": "composed from the Adobe test set over PASCAL VOC 2012 as DIM's Composition_code.py composes it",
    "merged": "read from an already composed Test_set/merged (IndexNet's layout)",
}


def score_alpha(pred: np.ndarray, alpha: np.ndarray, trimap: np.ndarray) -> dict:
    """{"sad", "mse", "grad", "conn", "unknown_pixels"} of one predicted alpha.

    ``pred``, ``alpha``: uint8 ``(H, W)`` 0–255; ``trimap``: uint8 ``(H, W)``, unknown = 128.
    Units of the published tables (``evaluate.metrics``); MSE is NaN when nothing is unknown.
    """
    row = {
        key: fn(pred, alpha, trimap, "unknown")
        for key, fn in zip(SCORES, (M.sad, M.mse, M.gradient_error, M.connectivity_error), strict=False)
    }
    row["unknown_pixels"] = int(np.count_nonzero(trimap == 128))
    return row


def matting_rows(nets: dict, sample, on_alpha=None) -> list[dict]:
    """One row per run for one ``composition1k.Comp1kSample``: ``{"run", "id", scores…}``.

    ``nets``: {run label: IndexNet}; ``on_alpha(label, name, alpha)`` (optional) receives each
    predicted uint8 alpha, e.g. to save it.
    """
    rows = []
    for label, net in nets.items():
        pred = indexnet_demo_alpha(net, sample.image, sample.trimap)
        if on_alpha is not None:
            on_alpha(label, sample.name, pred)
        rows.append({"run": label, "id": sample.name, **score_alpha(pred, sample.alpha, sample.trimap)})
    return rows


def caption(layout: str, evaluated: int, listed: int, limit: int | None) -> str:
    """The table caption: the source, how many composites were scored, the procedure."""
    limited = f" (--limit {limit})" if limit is not None else ""
    return CAPTION.format(
        source=SOURCES.get(layout, layout), evaluated=evaluated, listed=listed, limited=limited
    )
