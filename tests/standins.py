"""Tiny stand-ins of the published benchmark datasets, written in their exact layouts.

- iHarmony4 (``IHD_train.txt``/``IHD_test.txt``; ``<subset>/composite_images/<name>_<m>_<k>.jpg``,
  ``<subset>/masks/<name>_<m>.png``, ``<subset>/real_images/<name>.jpg``).
- Composition-1k, the Adobe layout (``Test_set/Adobe-licensed images/{fg,alpha,trimaps}``,
  ``Test_set/test_fg_names.txt``, ``Test_set/test_bg_names.txt``, a VOC ``JPEGImages`` folder)
  and IndexNet's flattened layout (``Test_set/{merged,alpha,trimaps}``).

Images are seeded synthetic portraits (``hmh_builder.ingest.synthetic``); pixels are
encoded with OpenCV (RGB → BGR at this edge).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from hmh_builder.ingest.synthetic import synthetic_portrait


def write_image(path: Path, rgb_or_gray: np.ndarray, quality: int = 95) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = rgb_or_gray if rgb_or_gray.ndim == 2 else cv2.cvtColor(rgb_or_gray, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix == ".jpg" else []
    ok, buf = cv2.imencode(path.suffix, img, params)
    assert ok, path
    path.write_bytes(buf.tobytes())


def write_iharmony4(
    root,
    subsets=("HCOCO", "HFlickr"),
    images: int = 3,
    composites: int = 2,
    height: int = 60,
    width: int = 80,
    seed: int = 0,
) -> dict:
    """An iHarmony4-layout root: per subset ``images`` real photos, one mask each and
    ``composites`` composites per mask (the mask region's colours changed). The last image of
    each subset goes to the test list. Returns {"train": [lines], "test": [lines]}."""
    root = Path(root)
    lists = {"train": [], "test": []}
    for s, subset in enumerate(subsets):
        for i in range(images):
            rng = np.random.default_rng([seed, s, i])
            real, alpha, _ = synthetic_portrait(rng, height + 8 * i, width)
            name = f"{subset[1:].lower()}{i}_{i + 7}"  # names carry "_" like c1_1
            write_image(root / subset / "real_images" / f"{name}.jpg", real)
            mask = np.where(alpha >= 128, 255, 0).astype(np.uint8)
            write_image(root / subset / "masks" / f"{name}_1.png", mask)
            for k in range(1, composites + 1):
                gain = rng.uniform(0.6, 1.4, 3)
                shifted = np.clip(real * gain + rng.uniform(-30, 30, 3), 0, 255).astype(np.uint8)
                comp = np.where(mask[..., None] > 0, shifted, real)
                line = f"{subset}/composite_images/{name}_1_{k}.jpg"
                write_image(root / line, comp)
                lists["test" if i == images - 1 else "train"].append(line)
    for split, name in (("train", "IHD_train.txt"), ("test", "IHD_test.txt")):
        (root / name).write_text("".join(line + "\n" for line in lists[split]))
    return lists


def composition1k_sources(n_fg: int = 2, bg_sizes=((40, 50), (90, 70), (30, 30)), seed: int = 0):
    """(foregrounds [(stem, fg RGB, alpha)], backgrounds [(name, RGB)]) for the stand-ins:
    small portraits as foregrounds and VOC-like backgrounds, some smaller than the foreground
    (scaled up by the composition) and some larger (cropped)."""
    fgs = []
    for k in range(n_fg):
        fg, alpha, _ = synthetic_portrait(np.random.default_rng([seed, 100 + k]), 48 + 4 * k, 40)
        fgs.append((f"fg-{k}_1920", fg, alpha))
    bgs = []
    for j in range(n_fg * 20):
        h, w = bg_sizes[j % len(bg_sizes)]
        rng = np.random.default_rng([seed, 200 + j])
        bgs.append((f"2008_{j:06d}.jpg", rng.integers(0, 256, (h, w, 3), dtype=np.uint8)))
    return fgs, bgs


def write_composition1k_adobe(root, fgs, bgs) -> Path:
    """The Adobe Test_set layout under ``root`` and a VOC folder ``root/VOC2012/JPEGImages``;
    trimaps ``<stem>_<k>.png`` for k = 0…19 (alpha band widened). Returns the VOC folder."""
    root = Path(root)
    test = root / "Test_set"
    adobe = test / "Adobe-licensed images"
    names = []
    for stem, fg, alpha in fgs:
        names.append(f"{stem}.png")
        write_image(adobe / "fg" / f"{stem}.png", fg)
        write_image(adobe / "alpha" / f"{stem}.png", alpha)
        for k in range(20):
            write_image(adobe / "trimaps" / f"{stem}_{k}.png", trimap_of(alpha, 1 + k % 3))
    (test / "test_fg_names.txt").write_text("\n".join(names) + "\n")
    (test / "test_bg_names.txt").write_text("\n".join(name for name, _ in bgs) + "\n")
    voc = root / "VOC2012" / "JPEGImages"
    for name, bg in bgs:
        write_image(voc / name, bg)
    return voc


def trimap_of(alpha: np.ndarray, radius: int) -> np.ndarray:
    """uint8 {0, 128, 255} trimap: 0 < α < 255 dilated by a (2r+1)² square."""
    unknown = ((alpha > 0) & (alpha < 255)).astype(np.uint8)
    unknown = cv2.dilate(unknown, np.ones((2 * radius + 1,) * 2, np.uint8))
    return np.where(unknown > 0, 128, np.where(alpha == 255, 255, 0)).astype(np.uint8)


def build_pair_shards(root, *extra) -> Path:
    """``hmh-build iharmony4`` (the real command, in process) of a tiny stand-in written under
    ``root/IHD`` (3 images, 2 composites each) into ``root/shards`` at 64×64; ``extra``
    options are appended (e.g. ``"--shard-size", "3"``). Returns the shards folder."""
    from click.testing import CliRunner

    from hmh_builder.cli import main as build_main

    root = Path(root)
    write_iharmony4(root / "IHD", images=3, composites=2)
    out = root / "shards"
    result = CliRunner().invoke(
        build_main,
        [
            "iharmony4",
            "--src",
            str(root / "IHD"),
            "--out",
            str(out),
            "--size",
            "64",
            "--workers",
            "1",
            "--no-progress",
            *map(str, extra),
        ],
    )
    assert result.exit_code == 0, result.output
    return out
