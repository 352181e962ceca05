"""One source pair → one HMH sample (I, A, F, B, B_t or F_t, I_d + transform metadata).

The altered side (``schema.ALTERED_SIDES``) decides what the drawn transform changes:
``background`` (the paper's main setting): B_t = T(B), I_d = A·I + (1−A)·B_t;
``foreground`` (the paper's Fig. 6 variant): F_t = T(I), I_d = A·F_t + (1−A)·B and I_d = I
where A = 0. For Reinhard toward another portrait the foreground variant matches the person's
colours (statistics of I weighted by A) to the target portrait's person (its own image
weighted by its own matte), where the background variant matches all of B to all of the
target image.

Pure functions over decoded arrays: no paths are opened here. Every random choice for a
sample comes from ``numpy.random.default_rng(schema.sample_seed(seed, id))`` in
:func:`draw_choice`, in a fixed order (transform and its parameters first, then the
Reinhard target candidates), so the content never depends on worker count or order.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass

import cv2
import numpy as np

from hmh_builder import schema
from hmh_builder.kernels.adjust import AdjustSettings, apply_adjustment, draw_adjustment
from hmh_builder.kernels.background import estimate_background
from hmh_builder.kernels.composite import composite, composite_foreground_altered, premultiply

#: Reinhard target candidates drawn per sample; the first whose image decodes is used.
TARGET_CANDIDATES = 3


class SampleError(ValueError):
    """A decoded pair cannot become a sample; ``stage`` is "validate" or "process"."""

    def __init__(self, stage: str, reason: str):
        super().__init__(reason)
        self.stage = stage


@dataclass(frozen=True)
class Choice:
    """The random choices of one sample: transform, its parameters, Reinhard target ids."""

    transform: str
    params: dict
    targets: tuple = ()


def draw_choice(seed: int, sample_id: str, sorted_ids: list, settings: AdjustSettings) -> Choice:
    """Draw a sample's transform, parameters and (for reinhard) target candidates.

    Targets are drawn uniformly among the *other* ids of ``sorted_ids`` (all discovered ids,
    sorted); with a single id the sample is its own target.
    """
    rng = np.random.default_rng(schema.sample_seed(seed, sample_id))
    name, params = draw_adjustment(rng, settings)
    if name != "reinhard":
        return Choice(name, params)
    n = len(sorted_ids)
    if n < 2:
        return Choice(name, params, (sample_id,))
    own = bisect.bisect_left(sorted_ids, sample_id)
    targets = []
    for _ in range(TARGET_CANDIDATES):
        j = int(rng.integers(n - 1))
        targets.append(sorted_ids[j + 1 if j >= own else j])
    return Choice(name, params, tuple(targets))


def check_sizes(image_hw: tuple, matte_hw: tuple, image_path: str, matte_path: str) -> None:
    """SampleError("validate") unless the (H, W) of image and matte agree (from their headers
    before decoding, or from the decoded arrays)."""
    if tuple(matte_hw) != tuple(image_hw):
        raise SampleError(
            "validate",
            f"image {image_path} is {image_hw[1]}×{image_hw[0]} but its "
            f"matte {matte_path} is {matte_hw[1]}×{matte_hw[0]}; they "
            "must be the same size",
        )


def validate(
    image: np.ndarray,
    alpha: np.ndarray,
    image_path: str,
    matte_path: str,
    size: tuple | None = None,
    native: bool = False,
) -> None:
    """Raise SampleError("validate") when the pair cannot be used; one sentence naming files.

    Checks: image and matte sizes agree; the matte has foreground and background; with
    ``native`` the image has exactly ``size`` (H, W).
    """
    ih, iw = image.shape[:2]
    check_sizes((ih, iw), alpha.shape, image_path, matte_path)
    if not alpha.any():
        raise SampleError("validate", f"matte {matte_path} is zero everywhere (no person in it)")
    if (alpha == 255).all():
        raise SampleError("validate", f"matte {matte_path} is 255 everywhere (no background to estimate)")
    if native and size is not None and (ih, iw) != tuple(size):
        raise SampleError(
            "validate",
            f"image {image_path} is {iw}×{ih} but --size native builds "
            f"{size[1]}×{size[0]} (the first image's size); use --size N",
        )


def resize(array: np.ndarray, size: tuple) -> np.ndarray:
    """Resize uint8 (H, W[, C]) to ``size`` = (H', W'): area averaging down, bilinear up."""
    h, w = array.shape[:2]
    if (h, w) == tuple(size):
        return array
    shrink = size[0] * size[1] < h * w
    out = cv2.resize(
        array, (int(size[1]), int(size[0])), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    return out.reshape(tuple(size) + array.shape[2:])


def params_json(choice: Choice, target: str | None) -> str:
    """The ``params`` string stored in the shard (sorted keys; reinhard names its target)."""
    params = dict(choice.params)
    if choice.transform == "reinhard":
        params["target"] = target
    return json.dumps(params, sort_keys=True)


def make_sample(
    image: np.ndarray,
    alpha: np.ndarray,
    size: tuple,
    background: str,
    background_resolution: str,
    choice: Choice,
    target_stats=None,
    altered: str = schema.DEFAULT_ALTERED,
) -> dict:
    """Compute the arrays of one sample.

    Args:
        image: uint8 RGB (H, W, 3) source image. alpha: uint8 (H, W) matte, 0..255.
        size: output (H', W'). background: method of kernels.background.
        background_resolution: "source" (estimate B on the source, then resize) or "output".
        choice: from draw_choice. target_stats: (mean, std) Lab stats for reinhard (of the
            whole target image for ``background``, of its person for ``foreground``).
        altered: "background" or "foreground" (see the module docstring).

    Returns:
        dict with uint8 arrays "I", "F", "B", "I_d" (H', W', 3) RGB and "A" (H', W'), plus
        "B_t" (background) or "F_t" (foreground), the adjusted image (H', W', 3) RGB.
    """
    if altered not in schema.ALTERED_SIDES:
        raise ValueError(f"altered must be one of {schema.ALTERED_SIDES}, got {altered!r}")
    small_i, small_a = resize(image, size), resize(alpha, size)
    if background_resolution == "source":
        back = resize(estimate_background(image, alpha, background), size)
    else:
        back = estimate_background(small_i, small_a, background)
    arrays = {"I": small_i, "A": small_a, "F": premultiply(small_i, small_a), "B": back}
    if altered == "foreground":
        adjusted = apply_adjustment(
            small_i, choice.transform, choice.params, target_stats, source_weights=small_a
        )
        arrays.update(F_t=adjusted, I_d=composite_foreground_altered(adjusted, small_a, back, small_i))
    else:
        adjusted = apply_adjustment(back, choice.transform, choice.params, target_stats)
        arrays.update(B_t=adjusted, I_d=composite(small_i, small_a, adjusted))
    return arrays
