"""Alpha compositing kernels (pure numpy).

All images are uint8 RGB arrays of shape (H, W, 3); alphas are uint8 (H, W) with
0 = background and 255 = foreground. Arithmetic is done in float32 and rounded half
to even (``np.rint``) back to uint8.
"""

from __future__ import annotations

import numpy as np


def _check_pair(image: np.ndarray, alpha: np.ndarray) -> None:
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
    if alpha.shape != image.shape[:2]:
        raise ValueError(f"alpha shape {alpha.shape} does not match image {image.shape[:2]}")


def premultiply(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Foreground F = A·I of the HMH dataset.

    Args:
        image: uint8 (H, W, 3) RGB.
        alpha: uint8 (H, W), 0..255.

    Returns:
        uint8 (H, W, 3) RGB, ``round(I * A / 255)``; exact for A in {0, 255}.
    """
    _check_pair(image, alpha)
    out = image.astype(np.float32) * (alpha.astype(np.float32) * np.float32(1 / 255))[..., None]
    return np.rint(out).astype(np.uint8)


def composite(foreground_image: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Composite ``round(A·I + (1 − A)·B)`` with A = alpha / 255 (paper Eq. 1).

    Args:
        foreground_image: uint8 (H, W, 3) RGB, the image I whose foreground is kept
            (not premultiplied).
        alpha: uint8 (H, W), 0..255.
        background: uint8 (H, W, 3) RGB.

    Returns:
        uint8 (H, W, 3) RGB. Exactly I where alpha == 255 and exactly B where alpha == 0.
    """
    _check_pair(foreground_image, alpha)
    if background.shape != foreground_image.shape:
        raise ValueError(f"background shape {background.shape} does not match {foreground_image.shape}")
    a = (alpha.astype(np.float32) * np.float32(1 / 255))[..., None]
    i = foreground_image.astype(np.float32)
    b = background.astype(np.float32)
    out = b + a * (i - b)  # = A·I + (1−A)·B; exact at A ∈ {0, 1}
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def composite_foreground_altered(
    adjusted: np.ndarray, alpha: np.ndarray, background: np.ndarray, image: np.ndarray
) -> np.ndarray:
    """Foreground-altered composite ``round(A·F_t + (1 − A)·B)``, exactly I where A == 0.

    Args:
        adjusted: uint8 (H, W, 3) RGB, F_t: the portrait with the person's colours adjusted.
        alpha: uint8 (H, W), 0..255.
        background: uint8 (H, W, 3) RGB, the estimated background B (unchanged).
        image: uint8 (H, W, 3) RGB, the real image I.

    Returns:
        uint8 (H, W, 3) RGB. Exactly F_t where alpha == 255 and exactly I where alpha == 0:
        B equals I there already when it was estimated at the output size; a B estimated on
        the source and resized can differ there by rounding, and the untouched side must be
        the real image.
    """
    out = composite(adjusted, alpha, background)
    _check_pair(image, alpha)
    np.copyto(out, image, where=(alpha == 0)[..., None])
    return out
