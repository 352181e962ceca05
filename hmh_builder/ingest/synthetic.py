"""Seeded synthetic portraits with a known background, for tests, examples and benchmarks.

``synthetic_portrait`` is a pure function of its generator. The writers put portraits on
disk in the Kaggle "Matting Human Datasets" layout or a plain image/alpha layout; encoding
is the only place RGB becomes BGR.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from hmh_builder.kernels.composite import composite


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int, amplitude: float) -> np.ndarray:
    """float32 (h, w, 3) low-frequency colour noise: a coarse random grid upsampled bicubically."""
    gh, gw = max(2, h // cell + 2), max(2, w // cell + 2)
    grid = rng.normal(0.0, amplitude, (gh, gw, 3)).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """float32 (h, w, 3) RGB 0..255: colour gradient + shapes + noise at two scales."""
    c0, c1 = rng.uniform(30, 225, 3), rng.uniform(30, 225, 3)
    angle = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (xx / w - 0.5) * math.cos(angle) + (yy / h - 0.5) * math.sin(angle) + 0.5
    bg = (c0 + (c1 - c0) * np.clip(t, 0, 1)[..., None]).astype(np.float32)
    scale = min(h, w)
    for _ in range(int(rng.integers(6, 14))):
        colour = tuple(float(v) for v in rng.uniform(0, 255, 3))
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        size = int(rng.uniform(0.04, 0.25) * scale)
        if rng.random() < 0.5:
            cv2.circle(bg, centre, size, colour, -1, cv2.LINE_AA)
        else:
            corner = (centre[0] + size, centre[1] + int(size * rng.uniform(0.3, 2)))
            cv2.rectangle(bg, centre, corner, colour, -1)
    bg = cv2.GaussianBlur(bg, (0, 0), 0.01 * scale)  # slightly out of focus, like a portrait's
    bg += _smooth_noise(rng, h, w, max(4, scale // 12), 14.0)
    bg += rng.normal(0.0, 3.0, (h, w, 3)).astype(np.float32)
    return np.clip(bg, 0, 255)


def _person_masks(rng: np.random.Generator, h: int, w: int):
    """Binary uint8 masks (head, hair cap, body) and the head ellipse (centre, axes)."""
    cx = int(w * rng.uniform(0.4, 0.6))
    cy = int(h * rng.uniform(0.3, 0.4))
    axes = (int(w * rng.uniform(0.14, 0.19)), int(h * rng.uniform(0.14, 0.18)))
    head, hair, body = (np.zeros((h, w), np.uint8) for _ in range(3))
    cv2.ellipse(head, (cx, cy), axes, 0, 0, 360, 255, -1)
    hair_axes = (int(axes[0] * 1.12), int(axes[1] * 1.05))
    cv2.ellipse(hair, (cx, cy - axes[1] // 8), hair_axes, 0, 180, 360, 255, -1)
    neck_w = axes[0] // 2
    cv2.rectangle(body, (cx - neck_w, cy), (cx + neck_w, cy + int(axes[1] * 1.6)), 255, -1)
    shoulder_y = cy + int(axes[1] * 1.5)
    base_y = h + int(0.1 * h)
    cv2.ellipse(
        body, (cx, base_y), (int(w * rng.uniform(0.38, 0.48)), base_y - shoulder_y), 0, 180, 360, 255, -1
    )
    return head, hair, body, (cx, cy), axes


def _strands(rng: np.random.Generator, h: int, w: int, centre, axes) -> np.ndarray:
    """uint8 (h, w) matte of thin anti-aliased semi-transparent hair strands around the head."""
    canvas = np.zeros((h, w), np.uint8)
    scale = min(h, w)
    for _ in range(int(rng.integers(80, 160))):
        theta = rng.uniform(math.pi * 0.95, math.pi * 2.05)
        x = centre[0] + axes[0] * 1.05 * math.cos(theta)
        y = centre[1] - axes[1] // 8 + axes[1] * 1.0 * math.sin(theta)
        heading = theta + rng.normal(0, 0.5)
        step = rng.uniform(0.01, 0.03) * scale
        points = [(x, y)]
        for _ in range(int(rng.integers(3, 10))):
            heading += rng.normal(0, 0.3)
            x, y = x + step * math.cos(heading), y + step * math.sin(heading)
            points.append((x, y))
        pts = np.round(np.array(points) * 16).astype(np.int32).reshape(-1, 1, 2)
        opacity = int(rng.uniform(60, 230))
        cv2.polylines(canvas, [pts], False, opacity, 1, cv2.LINE_AA, shift=4)
    return canvas


def _foreground_colour(rng: np.random.Generator, h: int, w: int, face, hair, body, pad: int) -> np.ndarray:
    """float32 (h, w, 3) RGB: hair colour everywhere, skin on the face, clothing on the body."""
    hair_c = rng.uniform(10, 120, 3) * np.array([1.0, 0.8, 0.6])
    skin_c = np.array([rng.uniform(150, 240), rng.uniform(100, 190), rng.uniform(80, 160)])
    cloth_c = rng.uniform(0, 255, 3)
    # Colour regions are dilated past the soft matte edge so F is continuous across the
    # 0 < alpha < 255 band (a real foreground does not change colour where alpha fades).
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pad + 1, 2 * pad + 1))
    fg = np.empty((h, w, 3), np.float32)
    fg[:] = hair_c
    fg[cv2.dilate(body, grow) > 0] = cloth_c
    fg[cv2.dilate(face, grow) > 0] = skin_c
    fg[hair > 0] = hair_c
    fg += _smooth_noise(rng, h, w, max(4, min(h, w) // 20), 10.0)
    fg += rng.normal(0.0, 2.0, (h, w, 3)).astype(np.float32)
    return np.clip(fg, 0, 255)


def _soften(mask: np.ndarray, sigma: float) -> np.ndarray:
    """float32 0..255 soft edge: a binary uint8 mask blurred by a Gaussian of ``sigma`` px."""
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(0.3, sigma))


def synthetic_portrait(rng: np.random.Generator, height: int = 800, width: int = 600):
    """One synthetic portrait with a known background.

    Args:
        rng: numpy Generator; the result is a pure function of its state.
        height, width: image size in pixels (at least 16 each).

    Returns:
        (image, alpha, true_background): uint8 RGB (H, W, 3), uint8 (H, W) with a realistic
        0 < alpha < 255 band (blurred body edges, a fuzzy hair cap and thin strands), and
        the uint8 RGB background with image = round(A·F + (1−A)·background).
    """
    if height < 16 or width < 16:
        raise ValueError(f"portrait must be at least 16×16, got {height}×{width}")
    h, w = height, width
    bg = _background(rng, h, w)
    head, hair, body, centre, axes = _person_masks(rng, h, w)
    scale = min(h, w)
    person = np.maximum(_soften(np.maximum(head, body), 0.002 * scale), _soften(hair, 0.006 * scale))
    strands = _strands(rng, h, w, centre, axes).astype(np.float32)
    alpha = np.clip(np.rint(np.maximum(person, strands)), 0, 255).astype(np.uint8)
    face = np.where(hair > 0, 0, head).astype(np.uint8)
    fg = _foreground_colour(rng, h, w, face, hair, body, pad=max(2, round(0.01 * scale)))
    true_bg = np.rint(bg).astype(np.uint8)
    image = composite(np.rint(fg).astype(np.uint8), alpha, true_bg)
    return image, alpha, true_bg


def _write(path: Path, rgb_or_gray: np.ndarray, ext: str, params=()) -> None:
    """Encode with OpenCV (RGB(A) → BGR(A) here, at the I/O edge) and write ``path``."""
    img = rgb_or_gray
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA)
    ok, buf = cv2.imencode(ext, img, list(params))
    if not ok:
        raise OSError(f"could not encode {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.tobytes())


MATTE_RGB_MODES = ("image", "cutout", "zero")


def _matte_rgb(image: np.ndarray, alpha: np.ndarray, mode: str) -> np.ndarray:
    if mode == "image":
        return image
    if mode == "cutout":
        return np.where((alpha > 0)[..., None], image, 0).astype(np.uint8)
    if mode == "zero":
        return np.zeros_like(image)
    raise ValueError(f"matte_rgb must be one of {MATTE_RGB_MODES}, got {mode!r}")


def write_kaggle_layout(
    root,
    n: int,
    seed: int = 0,
    height: int = 800,
    width: int = 600,
    group: str = "1803151818",
    with_truth: bool = True,
    matte_rgb: str = "image",
) -> list[str]:
    """Write ``n`` portraits in the AISegment Kaggle layout under ``root``.

    ``clip_img/<group>/clip_00000000/<id>.jpg`` (JPEG quality 95) and
    ``matting/<group>/matting_00000000/<id>.png`` (RGBA, A = matte), ids
    ``<group>-00000001`` …; with_truth also writes ``_truth/<id>.png`` (true background,
    RGB PNG), a folder source discovery ignores. Portrait k depends only on (seed, k).
    The matte's RGB is the image (``matte_rgb="image"``), the image where alpha > 0 and black
    elsewhere (``"cutout"``), or black (``"zero"``, ~10× smaller files; builders read only
    the alpha channel).

    Returns:
        the ids, in order.
    """
    if matte_rgb not in MATTE_RGB_MODES:
        raise ValueError(f"matte_rgb must be one of {MATTE_RGB_MODES}, got {matte_rgb!r}")
    root = Path(root)
    ids = []
    for k in range(n):
        image, alpha, truth = synthetic_portrait(np.random.default_rng([seed, k]), height, width)
        sid = f"{group}-{k + 1:08d}"
        _write(
            root / "clip_img" / group / "clip_00000000" / f"{sid}.jpg",
            image,
            ".jpg",
            (cv2.IMWRITE_JPEG_QUALITY, 95),
        )
        _write(
            root / "matting" / group / "matting_00000000" / f"{sid}.png",
            np.dstack([_matte_rgb(image, alpha, matte_rgb), alpha]),
            ".png",
            (cv2.IMWRITE_PNG_COMPRESSION, 9),
        )
        if with_truth:
            _write(root / "_truth" / f"{sid}.png", truth, ".png")
        ids.append(sid)
    return ids


def write_plain_layout(root, n: int, seed: int = 0, height: int = 800, width: int = 600) -> list[str]:
    """Write ``n`` portraits as ``image/<stem>.jpg`` + ``alpha/<stem>.png`` (grayscale).

    Stems are ``portrait-00001`` …; returns them in order.
    """
    root = Path(root)
    stems = []
    for k in range(n):
        image, alpha, _ = synthetic_portrait(np.random.default_rng([seed, k]), height, width)
        stem = f"portrait-{k + 1:05d}"
        _write(root / "image" / f"{stem}.jpg", image, ".jpg", (cv2.IMWRITE_JPEG_QUALITY, 95))
        _write(root / "alpha" / f"{stem}.png", alpha, ".png")
        stems.append(stem)
    return stems


def write_backgrounds(root, n: int, seed: int = 0, height: int = 300, width: int = 400) -> list[str]:
    """Write ``n`` seeded synthetic scenes (the portraits' kind of background, no person) as
    ``root/scene-00001.jpg`` … (JPEG quality 95); returns the file names in order."""
    root = Path(root)
    names = []
    for k in range(n):
        scene = _background(np.random.default_rng([seed, k, 1]), height, width).round().astype(np.uint8)
        name = f"scene-{k + 1:05d}.jpg"
        _write(root / name, scene, ".jpg", (cv2.IMWRITE_JPEG_QUALITY, 95))
        names.append(name)
    return names
