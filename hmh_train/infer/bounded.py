"""Alpha mattes of large photos in bounded memory: a capped working resolution, tiles around
the unknown band, and a return to full resolution in the band.

``bounded_alpha(predict, image, trimap)`` (all arrays numpy; alpha float32 on the 0–255 scale):

1. **Cap.** When the longer side exceeds ``max_side``, image (area interpolation) and trimap
   (nearest) are shrunk so that it equals ``max_side``; ``max_side`` 0 = never.
2. **Tiles.** ``predict(image_crop, trimap_crop) -> float32 alpha 0–255`` runs only on square
   cores of ``tile`` pixels that hold unknown trimap pixels, each seen with ``margin`` pixels of
   context on every side (clipped at the image border); a core's unknown pixels take the crop's
   prediction. A working image of at most ``tile + 2·margin`` pixels per side is one crop:
   exactly ``predict`` of the whole image. Known pixels always take the trimap's value.
3. **Back to full size** (only when capped): the working alpha is resized with bilinear
   interpolation into the unknown band; known pixels again from the full-resolution trimap.
   Optionally (``eps`` not None) a guided filter (He et al. 2013; guide: the full-resolution
   gray image, radius ``radius_for(scale)``) follows, per tile. It is off by default: on a real
   portrait with a known matte it made the return *worse* than bilinear at every scale and ε
   tried (``benchmarks/infer_memory.py --oracle``, docs/inference-auto.md): hair lost at the
   working size is not recovered by the photo's edges, and low-contrast hair gets blurred.

Memory is one crop's network activations plus a few full-size float32 planes (4 bytes/pixel
each); time is the network on the working image (plus margins). ``bounded_uint8`` (the API's
fast matte path) and ``bounded_matte`` (``compose``'s matting step) wrap it for the two
predictors; ``needs_bounding`` says when ``compose`` takes this route.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

#: Longer side of the working image (``--max-side``): a 12 MP (4:3) photo runs at 1152×864 ≈
#: 1 MP, where IndexNet's activations take about 1.25 GB (docs/inference-auto.md).
DEFAULT_MAX_SIDE = 1152
#: Side of a tile's core and its context margin (``--tile``): a crop is at most 1280² pixels
#: (about 2 GB of activations), whatever ``--max-side``.
DEFAULT_TILE = 768
DEFAULT_MARGIN = 256
#: Guided filter regulariser (alpha and guide on the [0, 1] scale) when one is asked for.
GUIDED_EPS = 1e-4


def shrink(image: np.ndarray, trimap: np.ndarray, max_side: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(image, trimap, scale) with the longer side at most ``max_side`` (0: unchanged, scale 1)."""
    h, w = trimap.shape
    if not max_side or max(h, w) <= max_side:
        return image, trimap, 1.0
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return small, cv2.resize(trimap, size, interpolation=cv2.INTER_NEAREST), scale


def tile_boxes(unknown: np.ndarray, tile: int, margin: int) -> list[tuple[tuple, tuple]]:
    """``[((y0, y1, x0, x1) core, (Y0, Y1, X0, X1) crop)]`` for the ``tile``-sized cores of a
    grid over ``unknown`` (bool (H, W)) holding an unknown pixel; a crop is its core grown by
    ``margin`` and clipped to the image. One box for the whole image when it fits one crop
    (even without unknown pixels: a small image is always exactly one call of the predictor)."""
    h, w = unknown.shape
    if max(h, w) <= tile + 2 * margin:
        return [((0, h, 0, w), (0, h, 0, w))]
    boxes = []
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(h, y0 + tile), min(w, x0 + tile)
            if unknown[y0:y1, x0:x1].any():
                crop = (max(0, y0 - margin), min(h, y1 + margin), max(0, x0 - margin), min(w, x1 + margin))
                boxes.append(((y0, y1, x0, x1), crop))
    return boxes


def tiled_alpha(predict, image: np.ndarray, trimap: np.ndarray, tile: int, margin: int) -> np.ndarray:
    """float32 (H, W) alpha 0–255: the trimap's known values, and ``predict`` on the crops of
    :func:`tile_boxes` for the unknown (128) pixels of each core."""
    unknown = trimap == 128
    alpha = trimap.astype(np.float32)
    for (y0, y1, x0, x1), (Y0, Y1, X0, X1) in tile_boxes(unknown, tile, margin):
        pred = predict(image[Y0:Y1, X0:X1], trimap[Y0:Y1, X0:X1])
        core = pred[y0 - Y0 : y1 - Y0, x0 - X0 : x1 - X0]
        region = unknown[y0:y1, x0:x1]
        alpha[y0:y1, x0:x1][region] = core[region]
    return alpha


def radius_for(scale: float) -> int:
    """Guided-filter radius at full size for a working image ``scale`` times smaller: two
    working pixels, at least 2."""
    return max(2, math.ceil(2 / scale))


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float = GUIDED_EPS) -> np.ndarray:
    """He et al.'s guided filter, gray guide: float32 (H, W) guide and source in [0, 1] → the
    filtered source (H, W) float32 (box means by ``cv2.boxFilter``, window 2·radius + 1)."""
    size = (2 * radius + 1, 2 * radius + 1)

    def box(x):
        return cv2.boxFilter(x, cv2.CV_32F, size, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(guide), box(src)
    var_i = box(guide * guide) - mean_i * mean_i
    a = (box(guide * src) - mean_i * mean_p) / (var_i + np.float32(eps))
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


def upsample_alpha(
    alpha_small: np.ndarray,
    image: np.ndarray,
    trimap: np.ndarray,
    scale: float,
    tile: int,
    eps: float | None = None,
) -> np.ndarray:
    """float32 (H, W) alpha 0–255 at the size of ``image``: bilinear, then (``eps`` not None)
    the guided filter in the unknown band (per tile of the full-size grid, with the filter's
    window as margin)."""
    h, w = trimap.shape
    up = cv2.resize(alpha_small, (w, h), interpolation=cv2.INTER_LINEAR)
    radius = radius_for(scale)
    unknown = trimap == 128
    out = trimap.astype(np.float32)
    if eps is None:
        out[unknown] = np.clip(up[unknown], 0, 255)
        return out
    for (y0, y1, x0, x1), (Y0, Y1, X0, X1) in tile_boxes(unknown, tile, 2 * radius + 1):
        gray = cv2.cvtColor(image[Y0:Y1, X0:X1], cv2.COLOR_RGB2GRAY).astype(np.float32) / np.float32(255)
        src = up[Y0:Y1, X0:X1] / np.float32(255)
        refined = np.clip(guided_filter(gray, src, radius, eps), 0.0, 1.0) * np.float32(255)
        region = unknown[y0:y1, x0:x1]
        out[y0:y1, x0:x1][region] = refined[y0 - Y0 : y1 - Y0, x0 - X0 : x1 - X0][region]
    return out


def bounded_alpha(
    predict,
    image: np.ndarray,
    trimap: np.ndarray,
    max_side: int = DEFAULT_MAX_SIDE,
    tile: int = DEFAULT_TILE,
    margin: int = DEFAULT_MARGIN,
    eps: float | None = None,
) -> np.ndarray:
    """float32 (H, W) alpha 0–255 of a uint8 RGB (H, W, 3) image and uint8 trimap {0, 128, 255}
    (H, W) by the three steps of the module docstring (``eps`` None: bilinear return only)."""
    small_image, small_trimap, scale = shrink(image, trimap, max_side)
    alpha = tiled_alpha(predict, small_image, small_trimap, tile, margin)
    if scale == 1.0:
        return alpha
    return upsample_alpha(alpha, image, trimap, scale, tile, eps)


def bounded_uint8(predict, image: np.ndarray, trimap: np.ndarray, max_side: int, tile: int) -> np.ndarray:
    """uint8 (H, W) alpha: ``bounded_alpha`` of a predictor returning uint8 (H, W) alpha
    (e.g. IndexNet's demo), truncated back to uint8 as the demo does; ``tile`` 0 = one crop.
    An image within ``max_side`` and one crop gets exactly ``predict(image, trimap)``."""

    def as_float(crop, crop_trimap):
        return predict(crop, crop_trimap).astype(np.float32)

    margin = DEFAULT_MARGIN if tile else 0
    alpha = bounded_alpha(as_float, image, trimap, max_side, tile or max(trimap.shape), margin)
    return np.clip(alpha, 0, 255).astype(np.uint8)


def needs_bounding(h: int, w: int, max_side: int, tile: int) -> bool:
    """Whether an H×W image is above the working cap or larger than one crop."""
    return bool(max_side and max(h, w) > max_side) or bool(tile and max(h, w) > tile + 2 * DEFAULT_MARGIN)


def bounded_matte(
    matting_net, image: np.ndarray, trimap: np.ndarray, device, max_side: int, tile: int
) -> np.ndarray:
    """uint8 (H, W) alpha of ``compose``'s matting step (``ops.predict_alpha_any_size``) run
    through ``bounded_alpha`` (capped size, tiles, bilinear return to full size)."""

    from hmh_train.infer import ops

    def predict(crop, crop_trimap):
        alpha = ops.predict_alpha_any_size(
            matting_net, ops.to_tensor(crop, device), ops.trimap_to_unit(crop_trimap).to(device)
        )
        return alpha[0, 0].float().cpu().numpy() * np.float32(255)

    margin = DEFAULT_MARGIN if tile else 0
    alpha = bounded_alpha(predict, image, trimap, max_side, tile or max(trimap.shape), margin)
    return np.clip(np.rint(alpha), 0, 255).astype(np.uint8)
