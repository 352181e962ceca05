"""The automatic mask of a portrait: MediaPipe's selfie segmentation, shipped with the package.

The model (``infer/models/selfie_segmentation.tflite``, Apache-2.0, see ``NOTICE.md`` beside
it) runs through ``nets.tflite_read`` (optional extra ``auto``: ``pip install
'hmh-toolkit[auto]'``). MediaPipe's CPU graph for it (``selfie_segmentation_cpu``): the RGB
image stretched to 256×256 (aspect not kept) with bilinear interpolation, scaled to [0, 1];
the network's sigmoid output (256×256, person probability) resized back to the image size with
bilinear interpolation (``person_probability``; equal to MediaPipe's own output on a 512×512
photo, within 0.16 elsewhere). ``auto_mask`` thresholds it at 0.5 and refuses an image where
no person is found (``person_found``; :class:`NoPersonError`: the caller names the file), so
an empty or wrong matte is never written silently.

The mask becomes a trimap as ``--mask`` does (``ops.trimap_from_mask``'s rule, by distance
transforms: ``band_trimap``), with a band that grows
with the image (``auto_band``): the mask is computed at 256×256, so its edge is uncertain by a
few of those pixels at any size.
"""

from __future__ import annotations

import functools
from importlib import resources

import cv2
import numpy as np
import torch

from hmh_train.infer.files import CompositeError
from hmh_train.infer.ops import MASK_BAND

#: The model's input side (MediaPipe's general selfie model: 256×256×3 in [0, 1]).
SEGMENTER_SIDE = 256
#: A mask covering less than this fraction of the image is "no person found".
MIN_PERSON_FRACTION = 0.01
#: ... and so is a mask of which less than this share is confident (probability > 0.9): the
#: model, trained on selfies, also marks the salient object of a photo without a person, but
#: with low confidence. Measured with MediaPipe's own graph (docs/inference-auto.md): portraits
#: 0.946–0.974 (kid, astronaut, boy, wedding), a cat 0.880, a coffee cup 0.607.
MIN_CONFIDENT_SHARE = 0.92
#: Unknown band half-width of the automatic trimap as a fraction of the image's longer side
#: (2 % ≈ 5 pixels of the 256-pixel mask), never below ``ops.MASK_BAND``.
AUTO_BAND_FRACTION = 0.02
MODEL_NAME = "selfie_segmentation.tflite"


class NoPersonError(CompositeError):
    """The segmenter found no person in the image (one line; callers reading a file prefix
    its path)."""


@functools.cache
def load_segmenter():
    """The selfie segmentation network (a ``TfliteGraph``), read once per process;
    ``TfliteError`` with the install hint when the optional extra is missing."""
    from hmh_train.nets.tflite_read import read_tflite

    data = resources.files("hmh_train.infer").joinpath("models", MODEL_NAME).read_bytes()
    return read_tflite(data, MODEL_NAME)


def segmenter_input(image: np.ndarray) -> torch.Tensor:
    """``(1, 256, 256, 3)`` float32 in [0, 1] from a uint8 RGB ``(H, W, 3)`` image: MediaPipe's
    CPU ImageToTensor with keep_aspect_ratio false, i.e. the float image warped onto 256×256 by
    the corner-to-corner scaling with bilinear sampling (no anti-aliasing)."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (H, W, 3) RGB, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    side = SEGMENTER_SIDE
    scaling = np.array([[side / w, 0, 0], [0, side / h, 0]], np.float64)
    unit = image.astype(np.float32) * np.float32(1 / 255)
    small = cv2.warpAffine(
        unit, scaling, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    return torch.from_numpy(small)[None]


def person_probability(segmenter, image: np.ndarray) -> np.ndarray:
    """float32 ``(H, W)`` in [0, 1]: the probability that each pixel of the uint8 RGB
    ``(H, W, 3)`` image is a person (MediaPipe's selfie segmentation graph, see above)."""
    small = segmenter(segmenter_input(image))[0, :, :, 0].numpy()
    h, w = image.shape[:2]
    return np.clip(cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def person_found(probability: np.ndarray) -> tuple[bool, str]:
    """(found, why not) for a person-probability map: the mask (≥ 0.5) covers at least
    ``MIN_PERSON_FRACTION`` of the image and at least ``MIN_CONFIDENT_SHARE`` of it is > 0.9."""
    mask = probability >= 0.5
    fraction = float(mask.mean())
    if fraction < MIN_PERSON_FRACTION:
        return False, f"the mask covers {fraction:.1%} of the pixels, below {MIN_PERSON_FRACTION:.0%}"
    share = float((probability > 0.9).sum() / mask.sum())
    if share < MIN_CONFIDENT_SHARE:
        return False, f"only {share:.0%} of the mask is confident, below {MIN_CONFIDENT_SHARE:.0%}"
    return True, ""


def auto_mask(segmenter, image: np.ndarray) -> np.ndarray:
    """uint8 ``(H, W)`` mask of the uint8 RGB ``(H, W, 3)`` image, 255 = person (probability
    ≥ 0.5); NoPersonError when :func:`person_found` says no."""
    probability = person_probability(segmenter, image)
    found, why = person_found(probability)
    if not found:
        raise NoPersonError(f"no person found by the automatic mask ({why}); give a trimap or a mask instead")
    return (probability >= 0.5).astype(np.uint8) * 255


def auto_band(height: int, width: int) -> int:
    """Unknown half-width (pixels) of the automatic trimap of an H×W image."""
    return max(MASK_BAND, int(round(AUTO_BAND_FRACTION * max(height, width))))


def band_trimap(mask: np.ndarray, band: int) -> np.ndarray:
    """uint8 trimap {0, 128, 255} ``(H, W)`` of a uint8 mask (255 = person): 255 where the
    nearest non-person pixel is more than ``band`` px away (Euclidean), 0 where the nearest person
    pixel is, 128 between. The same rule as ``ops.trimap_from_mask`` (erosion / dilation by a
    disk), by exact distance transforms, whose cost does not grow with ``band`` (a 171-px disk
    on 12 MP took tens of seconds)."""
    person = (mask >= 128).astype(np.uint8)
    trimap = np.full(mask.shape, 128, np.uint8)
    trimap[cv2.distanceTransform(person, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) > band] = 255
    trimap[cv2.distanceTransform(1 - person, cv2.DIST_L2, cv2.DIST_MASK_PRECISE) > band] = 0
    return trimap


def auto_trimap(segmenter, image: np.ndarray, band: int | None = None) -> np.ndarray:
    """uint8 trimap {0, 128, 255} ``(H, W)`` of a portrait from its automatic mask
    (:func:`band_trimap`); ``band`` None = ``auto_band``. NoPersonError as :func:`auto_mask`."""
    mask = auto_mask(segmenter, image)
    return band_trimap(mask, auto_band(*image.shape[:2]) if band is None else band)
