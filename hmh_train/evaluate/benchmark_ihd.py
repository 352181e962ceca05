"""iHarmony4 with a named protocol: one row of metrics per run and test pair, plus the identity.

Pairs are read as DoveNet reads them (``evaluate.iharmony4``: 256×256, PIL bilinear, 1-bit
mask). The harmonizer gets the composite and the mask of the changed region; its output is
scored against the real image with MSE, fMSE over the mask and PSNR
(``iharmony4.image_metrics``). Two protocols:

- ``standard`` (default): network in eval mode, its float output (clamped to [0, 1], not
  quantised) against the real image as read, PSNR with peak 255. The same computation as
  ``hmh-train eval --shards`` on ``hmh-build iharmony4`` shards of the same list.
- ``dovenet``: DoveNet's ``test.py`` as run for its published figures
  (``infer.protocols.dovenet_published_output``): network in **training mode** (batch
  statistics of the single image, dropout active, seeded per pair from ``--seed`` and the
  pair's id, so a run is reproducible and independent of order, ``--limit`` and
  ``--workers``); output, real image and composite all through ``util.tensor2im``
  (``dovenet_tensor2im``: uint8 by truncation); PSNR with data_range = output max − min
  (skimage's ``compare_psnr(real, output, data_range=output.max() - output.min())``).

The identity row scores the composite itself the same way (under ``dovenet`` the round-tripped
composite is the "output", so its own max − min is the PSNR range).
"""

from __future__ import annotations

import numpy as np
import torch

from hmh_builder.schema import sample_seed
from hmh_train.evaluate.iharmony4 import IDENTITY, image_metrics
from hmh_train.infer.methods import MethodHarmonizer
from hmh_train.infer.ops import harmonize_any_size, to_tensor
from hmh_train.infer.protocols import dovenet_published_output, dovenet_tensor2im

PROTOCOLS = ("standard", "dovenet")
PROTOCOL_TEXT = {
    "standard": "the standard protocol: networks in eval mode, float output not quantised, "
    "PSNR with peak 255",
    "dovenet": "DoveNet's published protocol (test.py without --eval): networks in training "
    "mode (batch statistics at batch size 1, dropout active, seeded), output, real "
    "image and composite quantised by util.tensor2im, PSNR with data_range = output "
    "max − min",
}
CAPTION = (
    "iHarmony4 ({split} list), {evaluated} of the {listed} listed pairs{limited}, read as DoveNet "
    "reads them (256×256). Protocol: {protocol}. MSE over all pixels and fMSE over the mask of "
    "the changed region on the 0–255 scale, PSNR in dB; means over images per subset and over "
    "all. `identity` scores the composite itself.{reference}"
)
REFERENCE = (
    " The rows 'DoveNet (published, README)' are DoveNet's figures for its released "
    "model on the full test lists, computed with the dovenet protocol."
)


def pair_seed(seed: int, pair_id: str) -> int:
    """torch seed of one pair under the dovenet protocol: from ``schema.sample_seed(seed, id)``."""
    state = np.random.SeedSequence(sample_seed(seed, pair_id)).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def harmonized(net, sample, protocol: str, seed: int = 0, output: str = "paper") -> np.ndarray:
    """The output a protocol scores for one ``iharmony4.PairSample``: ``standard`` → float32
    ``(256, 256, 3)`` in [0, 1]; ``dovenet`` → uint8 ``(256, 256, 3)`` (tensor2im). ``output``
    is the harmonizer's output form (``forward.harmonize``; DoveNet's file: ``paper``)."""
    if protocol == "dovenet":
        return dovenet_published_output(
            net, sample.composite, sample.mask, pair_seed(seed, sample.id), output
        )
    if protocol != "standard":
        raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    method = isinstance(net, MethodHarmonizer)  # a non-learned method (``infer.methods``)
    device = torch.device("cpu") if method else next(net.parameters()).device
    if not method:
        net.eval()
    with torch.no_grad():
        out = harmonize_any_size(
            net,
            to_tensor(np.array(sample.composite), device),
            to_tensor(np.array(sample.mask), device),
            output=output,
        )
    return out[0].float().cpu().permute(1, 2, 0).numpy()


def pair_rows(
    nets: dict, sample, protocol: str, seed: int = 0, on_output=None, forms: dict | None = None
) -> list[dict]:
    """Rows ``{"run", "id", "subset", "mask_pixels", "mse", "fmse", "psnr"}`` for one pair: one
    per run of ``nets`` ({label: U-Net}, each in its output form ``forms[label]``, default
    ``paper``), then the ``identity`` row. ``on_output(label, id, image)`` (optional) receives
    each scored output."""
    peak = None if protocol == "dovenet" else 255.0
    real, composite = sample.real, sample.composite
    if protocol == "dovenet":
        real, composite = dovenet_tensor2im(real), dovenet_tensor2im(composite)
    base = {
        "id": sample.id,
        "subset": sample.subset,
        "mask_pixels": int(np.count_nonzero(sample.mask >= 128)),
    }
    rows = []
    for label, net in nets.items():
        out = harmonized(net, sample, protocol, seed, (forms or {}).get(label, "paper"))
        if on_output is not None:
            on_output(label, sample.id, out)
        rows.append({"run": label, **base, **image_metrics(out, real, sample.mask, peak)})
    rows.append({"run": IDENTITY, **base, **image_metrics(composite, real, sample.mask, peak)})
    return rows


def caption(
    protocol: str, split: str, evaluated: int, listed: int, limit: int | None, reference: bool
) -> str:
    """The table caption, naming the protocol used."""
    limited = f" (--limit {limit})" if limit is not None else ""
    return CAPTION.format(
        split=split,
        evaluated=evaluated,
        listed=listed,
        limited=limited,
        protocol=PROTOCOL_TEXT[protocol],
        reference=REFERENCE if reference else "",
    )
