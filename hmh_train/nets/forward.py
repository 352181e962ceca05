"""Forward passes shared by training, evaluation and inference: the ``Nets`` container, the
wrapper-stripping ``unwrap``, IndexNet's input normalisation (``predict_alpha``), the U-Net's
(``harmonize``) and the one mask convention of every harmonizer input (``region_mask``,
``harmonization_mask``, ``altered_input``).

Images are float ``(B,3,H,W)`` RGB in [0, 1]; alpha ``(B,1,H,W)`` in [0, 1]; trimap
``(B,1,H,W)`` in {0, 0.5, 1}. IndexNet sees ImageNet-normalised RGB + trimap; the U-Net and the
critic see [−1, 1].

**Mask convention.** The harmonizer's mask input marks the region whose colours are adjusted
(DoveNet's meaning: 1 on the pasted foreground of iHarmony4). In HMH the altered region is the
background by default, so the mask is 1 − A (``region_mask(alpha)``); shards built with
``--altered foreground`` (the paper's Fig. 6 variant) alter the person, and the mask is A
(``region_mask(alpha, "foreground")``). A DoveNet checkpoint therefore works unchanged, on either
side, as the initialisation of ``harmonization``/``joint`` and as a baseline. Every choice of
side goes through ``region_mask``.

**Output forms** (``HARMONIZER_OUTPUTS``; the run's ``harmonizer_output`` key). With the U-Net's
raw output y (tanh, [−1, 1]), the composite C in [0, 1] and the mask M of the region to adjust:

- ``paper``: I_h = (y + 1)/2, the U-Net's image as is (DoveNet, the paper);
- ``keep``: I_h = M·(y + 1)/2 + (1 − M)·C — with the soft mask, so where M = 0 (the person in
  HMH) I_h equals C exactly, and hair blends by its alpha;
- ``residual``: I_h = C + M·y — the network predicts a change (in [−1, 1] on the [0, 1] scale)
  added to its input, kept to the region in the same way (where M = 0, I_h = C exactly).

``harmonize`` is the one place these are applied (training, validation, previews, eval,
composite, harmonize, study); ``harmonizer_proposal`` and ``finish_harmonized`` are its two
halves, for callers that resize between them (``infer.ops.harmonize_any_size``,
``infer.protocols.dovenet_harmonize``). ``paper`` and ``keep`` read y as an image, ``residual``
as a change: a network trained with one kind cannot be run with the other
(``check_output_form``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from hmh_builder.schema import ALTERED_SIDES

NET_NAMES = ("matting", "harmonization", "discriminator")
#: Output forms of the harmonizer (see the module docstring); "paper" reads y as an image.
HARMONIZER_OUTPUTS = ("paper", "keep", "residual")
#: The form of a harmonizer whose file does not record one (DoveNet's released file, runs made
#: before the key existed): the network's image as is, the way it was trained.
UNRECORDED_OUTPUT = "paper"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Nets:
    """The three networks; any may be None for single-task runs."""

    matting: torch.nn.Module | None = None
    harmonization: torch.nn.Module | None = None
    discriminator: torch.nn.Module | None = None
    harmonizer_output: str = UNRECORDED_OUTPUT  # how the harmonization net's output is used


def unwrap(module):
    """The plain module inside DDP and/or torch.compile wrappers."""
    module = getattr(module, "module", module)  # DistributedDataParallel
    return getattr(module, "_orig_mod", module)  # torch.compile


def unknown_mask(trimap: torch.Tensor) -> torch.Tensor:
    """Float mask ``(B,1,H,W)``: 1 where the trimap is unknown (0.5), else 0."""
    return ((trimap > 0.25) & (trimap < 0.75)).to(trimap.dtype)


def to_pm1(x):
    """[0, 1] → [−1, 1] (the U-Net's and the critic's input range)."""
    return x * 2 - 1


@functools.cache
def _imagenet_stats(device: torch.device, dtype: torch.dtype):
    """ImageNet mean and std ``(1,3,1,1)`` on ``device``: built once, not copied to the device
    every step."""
    with torch.inference_mode(False):  # usable by training even if first built under inference
        return (
            torch.tensor(IMAGENET_MEAN, device=device, dtype=dtype).view(1, 3, 1, 1),
            torch.tensor(IMAGENET_STD, device=device, dtype=dtype).view(1, 3, 1, 1),
        )


def predict_alpha(matting_net, image, trimap, raw: bool = False):
    """A_r ``(B,1,H,W)`` float32: IndexNet on (ImageNet-normalised I, trimap), known pixels pasted.

    ``A_r = M·pred + (1 − M)·T`` with M the unknown mask. ``pred`` is clamped to [0, 1] unless
    ``raw`` (training losses use the raw output, as IndexNet does). Sizes that are not multiples
    of 32 are resized (bilinear; trimap nearest) and the prediction resized back.
    """
    mean, std = _imagenet_stats(image.device, image.dtype)
    x = torch.cat(((image - mean) / std, trimap), dim=1)
    h, w = image.shape[2:]
    size = (max(32, round(h / 32) * 32), max(32, round(w / 32) * 32))
    if size != (h, w):
        x = torch.cat(
            (
                F.interpolate(x[:, :3], size=size, mode="bilinear", align_corners=False),
                F.interpolate(x[:, 3:], size=size, mode="nearest"),
            ),
            dim=1,
        )
    pred = matting_net(x).float()
    if size != (h, w):
        pred = F.interpolate(pred, size=(h, w), mode="bilinear", align_corners=False)
    if not raw:
        pred = pred.clamp(0, 1)
    mask = unknown_mask(trimap)
    return mask * pred + (1 - mask) * trimap


def region_mask(alpha, altered: str = "background"):
    """The harmonizer's mask for a matte: 1 − ``alpha`` when the background was altered (HMH),
    ``alpha`` when the foreground was (iHarmony4's composites). Same shape and dtype as
    ``alpha`` (torch tensor or numpy array, values in [0, 1])."""
    if altered == "background":
        return 1 - alpha
    if altered == "foreground":
        return alpha
    raise ValueError(f"altered must be one of {', '.join(ALTERED_SIDES)}, got {altered!r}")


def output_kind(output: str) -> str:
    """``"image"`` (paper, keep: y is a picture) or ``"change"`` (residual); ValueError else."""
    if output not in HARMONIZER_OUTPUTS:
        raise ValueError(f"harmonizer output must be one of {', '.join(HARMONIZER_OUTPUTS)}, got {output!r}")
    return "change" if output == "residual" else "image"


def check_output_form(requested: str | None, trained: str | None, where: str = "the checkpoint") -> str:
    """The form to run a harmonizer with: ``requested`` (a command-line choice) or, when None,
    the form it was ``trained`` with (None: ``UNRECORDED_OUTPUT``). ValueError (one line) when
    the two read the network's output differently (image vs change)."""
    trained = trained or UNRECORDED_OUTPUT
    if requested is None:
        output_kind(trained)
        return trained
    if output_kind(requested) != output_kind(trained):
        raise ValueError(
            f"{where}: its harmonizer was trained with output '{trained}' (the network "
            f"predicts {'a change' if trained == 'residual' else 'an image'}); it cannot "
            f"run as '{requested}' (use {' or '.join(_same_kind(trained))})"
        )
    return requested


def _same_kind(output: str) -> list[str]:
    return [f"'{o}'" for o in HARMONIZER_OUTPUTS if output_kind(o) == output_kind(output)]


def proposal_from_raw(raw, composite01, output: str = "paper"):
    """The U-Net's picture before any region is kept, float32 ``(B,3,H,W)``, from its raw
    output ``raw`` (tanh, [−1, 1]) and the composite it saw (``(B,3,H,W)`` in [0, 1]): (y + 1)/2
    for the image forms, C + y for ``residual`` (may leave [0, 1]; never clamped here, so the
    L1 loss keeps its gradient)."""
    if output_kind(output) == "change":
        return composite01.float() + raw.float()
    return (raw.float() + 1) / 2


def harmonizer_proposal(harmonization_net, composite01, mask01, output: str = "paper"):
    """``proposal_from_raw`` of the U-Net run on (composite, mask); inputs as ``harmonize``."""
    output_kind(output)
    x = torch.cat((to_pm1(composite01), mask01), dim=1)
    return proposal_from_raw(harmonization_net(x), composite01, output)


def finish_harmonized(proposal, composite01, mask01, output: str = "paper"):
    """I_h from a proposal (``harmonizer_proposal``): as is for ``paper``; for ``keep``
    M·P + (1 − M)·C; for ``residual`` C + M·(P − C), the same value written so that a zero change
    (P = C) gives C bit for bit. Either way pixels with M = 0 equal C exactly. ``mask01``
    broadcasts over the channels."""
    output_kind(output)  # validates the name
    if output == "paper":
        return proposal
    mask, composite = mask01.to(proposal.dtype), composite01.to(proposal.dtype)
    if output == "residual":
        return composite + mask * (proposal - composite)
    return mask * proposal + (1 - mask) * composite


def harmonize(harmonization_net, composite01, mask01, output: str = "paper"):
    """I_h ``(B,3,H,W)`` float32 from a composite ``(B,3,H,W)`` in [0, 1] and the mask
    ``(B,1,H,W)`` in [0, 1] of the region to adjust (``region_mask(alpha)`` for HMH), in the
    output form ``output`` (module docstring): in [0, 1] for ``paper`` and ``keep``; ``residual``
    is C + M·y and may leave [0, 1] by up to the network's change (inference clamps)."""
    proposal = harmonizer_proposal(harmonization_net, composite01, mask01, output)
    return finish_harmonized(proposal, composite01, mask01, output)


def harmonization_mask(batch):
    """The U-Net's mask input ``(B,1,H,W)`` for a ``data.augment.Batch``: the region to adjust.

    Harmonization-pair shards (iHarmony4) carry it: ``batch.mask`` (1 on the changed region)
    is used as stored. HMH batches derive it from the alpha and the side their shards alter
    (``batch.altered``) with ``region_mask``: 1 − A for an altered background, A for an altered
    foreground. The one place that chooses the mask for training, validation and previews.
    """
    return batch.mask if batch.mask is not None else region_mask(batch.alpha, batch.altered)


def altered_input(alpha, image, disharmonious, altered: str = "background"):
    """``(U-Net input, mask)`` for a *predicted* matte (the joint model, its previews and the
    end-to-end evaluation): the altered pixels I_d inside the region to adjust, the real ones
    I outside it, ``mask·I_d + (1 − mask)·I`` with ``mask = region_mask(alpha, altered)``.

    Background altered: A_r·I + (1 − A_r)·I_d with mask 1 − A_r (the paper's joint model);
    foreground altered: A_r·I_d + (1 − A_r)·I with mask A_r. ``alpha`` ``(B,1,H,W)`` in [0, 1];
    images ``(B,3,H,W)`` RGB in [0, 1]; float tensors out, same shapes.
    """
    mask = region_mask(alpha, altered)
    return mask * disharmonious + (1 - mask) * image, mask
