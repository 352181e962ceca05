"""Discover and pair source files (paths only; no pixels are read here).

Two layouts are recognised under SRC:

- **Kaggle** (AISegment "Matting Human Datasets"): ``clip_img/<group>/clip_<n>/<id>.jpg`` with
  ``matting/<group>/matting_<n>/<id>.png`` (RGBA, the matte is the 4th channel).
- **Plain**: ``image/<stem>.jpg|jpeg|png`` with ``alpha/<stem>.png`` (grayscale matte).

Image files in formats the builder does not read (``.webp``, ``.bmp``, ``.tif``, …;
``imageio.OTHER_IMAGE_EXTENSIONS``) are paired like the others and then fail to decode, naming
their format. Anything else under SRC (e.g. a ``_truth/`` folder) is ignored. Symlinked folders
are followed (each real folder is walked once); names starting with "." are skipped. A file without its partner,
or a second file with an id already seen, becomes a failure record with stage ``"pair"``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from hmh_builder.fsio import SourceError, walk_files
from hmh_builder.imageio import OTHER_IMAGE_EXTENSIONS

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
MATTE_EXTENSIONS = (".png",)
#: What discovery lists: the readable extensions and those of other image formats.
_IMAGE_FILES = IMAGE_EXTENSIONS + OTHER_IMAGE_EXTENSIONS
_MATTE_FILES = MATTE_EXTENSIONS + OTHER_IMAGE_EXTENSIONS


@dataclass(frozen=True)
class Pair:
    """One source sample: its id, and image/matte paths relative to SRC ("/"-separated)."""

    id: str
    image: str
    alpha: str
    layout: str  # "kaggle" (matte = 4th channel of an RGBA PNG) or "plain" (grayscale PNG)


def failure(sample_id: str, path: str, stage: str, reason: str) -> dict:
    """One failures.jsonl record (FORMAT.md)."""
    return {"id": sample_id, "path": path, "stage": stage, "reason": reason}


def _stem(rel: str) -> str:
    return os.path.splitext(rel.rsplit("/", 1)[-1])[0]


def _kaggle_key(rel: str, top: str, prefix: str):
    """(group, n, id) of ``top/<group>/<prefix>_<n>/<id>.ext``, or None for another shape."""
    parts = rel.split("/")
    if len(parts) != 4 or parts[0] != top or not parts[2].startswith(prefix + "_"):
        return None
    return parts[1], parts[2][len(prefix) + 1 :], _stem(rel)


def _pair_up(images: dict, mattes: dict, layout: str, describe) -> tuple[list[Pair], list[dict]]:
    """Join key → path maps; unpaired and duplicate ids become "pair" failures."""
    pairs, failures, seen = [], [], {}
    for key in sorted(set(images) | set(mattes)):
        image, matte = images.get(key), mattes.get(key)
        sample_id = key[-1]
        if image is None:
            failures.append(
                failure(
                    sample_id,
                    matte,
                    "pair",
                    f"matte {matte} has no image (expected {describe(key, 'image')})",
                )
            )
        elif matte is None:
            failures.append(
                failure(
                    sample_id,
                    image,
                    "pair",
                    f"image {image} has no matte (expected {describe(key, 'matte')})",
                )
            )
        elif sample_id in seen:
            failures.append(
                failure(
                    sample_id,
                    image,
                    "pair",
                    f"id {sample_id} is used twice: {image} and {seen[sample_id]}; ids must be unique",
                )
            )
        else:
            seen[sample_id] = image
            pairs.append(Pair(sample_id, image, matte, layout))
    return pairs, failures


def _discover_kaggle(src: str) -> tuple[list[Pair], list[dict]]:
    images, mattes, failures = {}, {}, []
    for top, prefix, exts, into in (
        ("clip_img", "clip", _IMAGE_FILES, images),
        ("matting", "matting", _MATTE_FILES, mattes),
    ):
        for rel in walk_files(src, top, exts):
            key = _kaggle_key(rel, top, prefix)
            if key is None:
                failures.append(
                    failure(
                        _stem(rel),
                        rel,
                        "pair",
                        f"{rel} is not at {top}/<group>/{prefix}_<n>/<id>; it cannot be paired",
                    )
                )
            elif key in into:
                failures.append(
                    failure(key[2], rel, "pair", f"{rel} has the same id as {into[key]}; ids must be unique")
                )
            else:
                into[key] = rel

    def describe(key, what):
        group, n, sid = key
        return (
            f"clip_img/{group}/clip_{n}/{sid}.jpg"
            if what == "image"
            else f"matting/{group}/matting_{n}/{sid}.png"
        )

    pairs, more = _pair_up(images, mattes, "kaggle", describe)
    return pairs, failures + more


def _discover_plain(src: str) -> tuple[list[Pair], list[dict]]:
    images, mattes, failures = {}, {}, []
    for top, exts, into in (("image", _IMAGE_FILES, images), ("alpha", _MATTE_FILES, mattes)):
        for rel in walk_files(src, top, exts):
            key = (_stem(rel),)
            if key in into:
                failures.append(
                    failure(
                        key[0], rel, "pair", f"{rel} has the same stem as {into[key]}; stems must be unique"
                    )
                )
            else:
                into[key] = rel

    def describe(key, what):
        return f"image/{key[0]}.jpg or .png" if what == "image" else f"alpha/{key[0]}.png"

    pairs, more = _pair_up(images, mattes, "plain", describe)
    return pairs, failures + more


def detect_layout(src) -> str:
    """``"kaggle"`` or ``"plain"``; SourceError when SRC is neither."""
    src = os.fspath(src)
    if not os.path.isdir(src):
        raise SourceError(f"{src}: source folder does not exist")
    if os.path.isdir(os.path.join(src, "clip_img")) or os.path.isdir(os.path.join(src, "matting")):
        return "kaggle"
    if os.path.isdir(os.path.join(src, "image")) or os.path.isdir(os.path.join(src, "alpha")):
        return "plain"
    raise SourceError(
        f"{src}: found neither clip_img/ + matting/ (Kaggle layout) nor image/ + alpha/ (plain layout)"
    )


def discover(src) -> tuple[list[Pair], list[dict]]:
    """All pairs under SRC sorted by id, and "pair" failure records (sorted by path)."""
    src = os.fspath(src)
    layout = detect_layout(src)
    pairs, failures = _discover_kaggle(src) if layout == "kaggle" else _discover_plain(src)
    return sorted(pairs, key=lambda p: p.id), sorted(failures, key=lambda f: (f["path"], f["id"]))
