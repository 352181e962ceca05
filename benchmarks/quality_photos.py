"""The quality benchmark's ``--source photos``: portraits made of real photographs that ship in
packages on this machine, with the toolkit's own soft mattes (issue 20.2).

Each portrait k is a pure function of (seed, k): the person's pixels F are a random crop of one
bundled photograph, the scene behind it Bg a random crop of another, the matte A the soft
person matte of ``hmh_builder.ingest.synthetic.synthetic_portrait`` (blurred body edges, fuzzy
hair cap, thin strands) drawn from the same generator, and the portrait I = round(A·F +
(1 − A)·Bg) (``hmh_builder.kernels.composite``). Only the matte is synthetic: every colour
and texture is a real photograph's, decoded from its shipped PNG/JPEG bytes. Written in the
AISegment Kaggle layout that ``hmh-build`` reads, like the synthetic source.

Photographs (``PHOTOS``): scikit-image's bundled ``astronaut``, ``chelsea``, ``coffee``,
``rocket`` and ``motorcycle_left``, and matplotlib's ``grace_hopper`` sample photograph
(its other sample images are charts, data or a 128×128 product shot). scikit-image is a
benchmark-only dependency (``pip install scikit-image``; matplotlib is already in the ``plot``
extra).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import cv2
import numpy as np

#: (package, folder inside it, file) of every photograph used, in this order.
PHOTOS = (
    ("skimage", "data", "astronaut.png"),
    ("skimage", "data", "chelsea.png"),
    ("skimage", "data", "coffee.png"),
    ("skimage", "data", "rocket.jpg"),
    ("skimage", "data", "motorcycle_left.png"),
    ("matplotlib", "mpl-data/sample_data", "grace_hopper.jpg"),
)
GROUP = "1803151818"  # the Kaggle layout's group folder (as the synthetic source writes)


def photo_paths() -> list[str]:
    """Paths of the ``PHOTOS`` on this machine; SystemExit with one line naming what to
    install when a package or file is missing."""
    paths = []
    for package, folder, name in PHOTOS:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit(
                f"--source photos reads photographs shipped with {package}: pip install "
                f"{'scikit-image' if package == 'skimage' else package}"
            )
        path = os.path.join(list(spec.submodule_search_locations)[0], folder, name)
        if not os.path.isfile(path):
            raise SystemExit(f"--source photos: {package} has no {folder}/{name} here (another version?)")
        paths.append(path)
    return paths


def load_photos() -> list[np.ndarray]:
    """The ``PHOTOS`` decoded as uint8 RGB (H, W, 3) arrays (``hmh_builder.imageio``)."""
    from hmh_builder.imageio import decode_image

    return [decode_image(path) for path in photo_paths()]


def random_crop(rng: np.random.Generator, photo: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 RGB (height, width, 3): a window of ``photo`` covering 40–100 % of the largest
    window of that aspect ratio, at a random place, resized (area filter) and maybe mirrored."""
    ph, pw = photo.shape[:2]
    fit = min(ph / height, pw / width)
    scale = fit * rng.uniform(0.4, 1.0)
    ch, cw = max(1, round(height * scale)), max(1, round(width * scale))
    top, left = int(rng.integers(0, ph - ch + 1)), int(rng.integers(0, pw - cw + 1))
    crop = cv2.resize(photo[top : top + ch, left : left + cw], (width, height), interpolation=cv2.INTER_AREA)
    return crop[:, ::-1].copy() if rng.random() < 0.5 else crop


def photo_portrait(rng: np.random.Generator, photos: list, height: int, width: int):
    """(I, A): uint8 RGB (H, W, 3) portrait and its uint8 (H, W) matte; the person's pixels
    from one photograph, the scene from another (module docstring)."""
    from hmh_builder.ingest.synthetic import synthetic_portrait
    from hmh_builder.kernels.composite import composite

    _, alpha, _ = synthetic_portrait(rng, height, width)
    first, second = rng.choice(len(photos), size=2, replace=False)
    person = random_crop(rng, photos[first], height, width)
    scene = random_crop(rng, photos[second], height, width)
    return composite(person, alpha, scene), alpha


def _write(path: Path, rgb_or_rgba: np.ndarray, ext: str, params=()) -> None:
    """Encode (RGB(A) → BGR(A) here, at the I/O edge) and write ``path``."""
    code = cv2.COLOR_RGB2BGR if rgb_or_rgba.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb_or_rgba, code), list(params))
    if not ok:
        raise OSError(f"could not encode {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.tobytes())


def write_photo_layout(root, n: int, seed: int = 0, height: int = 128, width: int = 96) -> list[str]:
    """Write ``n`` photo portraits in the AISegment Kaggle layout under ``root`` (JPEG 95 image,
    RGBA PNG matte with black RGB); portrait k depends only on (seed, k). Returns the ids."""
    photos, root, ids = load_photos(), Path(root), []
    for k in range(n):
        image, alpha = photo_portrait(np.random.default_rng([seed, k]), photos, height, width)
        sid = f"{GROUP}-{k + 1:08d}"
        _write(
            root / "clip_img" / GROUP / "clip_00000000" / f"{sid}.jpg",
            image,
            ".jpg",
            (cv2.IMWRITE_JPEG_QUALITY, 95),
        )
        matte = np.dstack([np.zeros_like(image), alpha])
        _write(root / "matting" / GROUP / "matting_00000000" / f"{sid}.png", matte, ".png")
        ids.append(sid)
    return ids
