"""Composition-1k (Deep Image Matting's test set): readers for the two published layouts, the
published composition, and the benchmark table. No networks here.

**Adobe layout** (as the dataset ships): ``Test_set/Adobe-licensed images/{fg,alpha,trimaps}/``,
``Test_set/test_fg_names.txt`` and ``Test_set/test_bg_names.txt``, plus the PASCAL VOC 2012
images the background list names (``--backgrounds``: the ``JPEGImages`` folder or a folder above
it). Foreground f (list order) is composed over backgrounds 20·f … 20·f + 19 of the background
list, in order (the composition code's single iterator over the list); composite k is named
``<fg stem>_<k>`` and its trimap is ``trimaps/<fg stem>_<k>.png``.

**IndexNet's flattened layout**: ``Test_set/merged/<fg stem>_<k>.png`` (already composed),
``Test_set/alpha/<fg stem>.png``, ``Test_set/trimaps/<fg stem>_<k>.png``, read as IndexNet's
``hldataset.py`` reads them (PIL; grayscale images as RGB; the alpha's first channel).

**Composition** (DIM's ``Composition_code.py``, also in IndexNet's ``scripts/``): foreground,
alpha (grayscale) and background read as ``cv2.imread`` does; a background smaller than the
foreground in either side is scaled by ratio = max(w/bw, h/bh) to (ceil(bw·ratio),
ceil(bh·ratio)) with cubic interpolation; its top-left h×w is used; comp = α·fg + (1−α)·bg in
float32 with α = alpha/255, truncated to uint8 (``astype``).

A missing or unreadable file, or a list too short, costs only the composites that need it:
:func:`discover` returns one plain line per composite that cannot be made, and the rest goes
on. Images are RGB uint8 (H, W, 3); alphas and trimaps uint8 (H, W).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from hmh_builder.imageio import DecodeError, decode_as_imread, decode_pil_resized

ADOBE_DIR = "Adobe-licensed images"
FG_LIST, BG_LIST = "test_fg_names.txt", "test_bg_names.txt"
BACKGROUNDS_PER_FOREGROUND = 20
LAYOUTS = ("auto", "adobe", "merged")


class Comp1kError(ValueError):
    """The benchmark source cannot be used at all; one line naming the path."""


@dataclass(frozen=True)
class Comp1kItem:
    """One test composite: its name and the files it is made from (absolute paths).

    Adobe layout: ``fg`` + ``background`` (composed on load); flattened layout: ``merged``.
    """

    name: str
    alpha: str
    trimap: str
    merged: str | None = None
    fg: str | None = None
    background: str | None = None


@dataclass
class Comp1kSample:
    """A loaded composite: image RGB (H, W, 3), alpha (H, W) and trimap (H, W), all uint8."""

    name: str
    image: np.ndarray
    alpha: np.ndarray
    trimap: np.ndarray


def fit_background(bg: np.ndarray, height: int, width: int) -> np.ndarray:
    """The composition code's background for an h×w foreground: scaled up (cubic) by
    max(w/bw, h/bh) to (ceil(bw·r), ceil(bh·r)) when that ratio exceeds 1, then its top-left
    (height, width) crop. ``bg``: uint8 (bh, bw, 3)."""
    import cv2

    bh, bw = bg.shape[:2]
    ratio = max(float(width) / float(bw), float(height) / float(bh))
    if ratio > 1:
        bg = cv2.resize(bg, (math.ceil(bw * ratio), math.ceil(bh * ratio)), interpolation=cv2.INTER_CUBIC)
    return bg[0:height, 0:width]


def compose(fg: np.ndarray, alpha: np.ndarray, bg: np.ndarray) -> np.ndarray:
    """comp = α·fg + (1 − α)·bg, float32 with α = alpha/255, truncated to uint8.

    ``fg``: uint8 (h, w, 3); ``alpha``: uint8 (h, w); ``bg``: uint8, at least h×w (its
    top-left h×w is used, as :func:`fit_background` returns it). Channel order is kept.
    """
    height, width = alpha.shape
    fg32 = np.array(fg, np.float32)
    bg32 = np.array(bg[0:height, 0:width], np.float32)
    a = np.zeros((height, width, 1), np.float32)
    a[:, :, 0] = alpha / 255.0
    return (a * fg32 + (1 - a) * bg32).astype(np.uint8)


def test_set_folder(src: str) -> str:
    """``src/Test_set`` when it exists, else ``src`` (the Test_set folder itself)."""
    inner = os.path.join(src, "Test_set")
    return inner if os.path.isdir(inner) else src


def voc_folder(backgrounds: str) -> str:
    """The folder the background names are relative to: the deepest of
    ``VOCdevkit/VOC2012/JPEGImages``, ``VOC2012/JPEGImages``, ``JPEGImages`` under
    ``backgrounds`` that exists, else ``backgrounds`` itself."""
    for sub in (("VOCdevkit", "VOC2012", "JPEGImages"), ("VOC2012", "JPEGImages"), ("JPEGImages",)):
        candidate = os.path.join(backgrounds, *sub)
        if os.path.isdir(candidate):
            return candidate
    return backgrounds


def _names(path: str) -> list:
    try:
        with open(path, encoding="utf-8") as handle:
            return [line.strip() for line in handle.read().splitlines()]
    except OSError as exc:
        raise Comp1kError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def adobe_items(src: str, backgrounds: str) -> tuple[list, list]:
    """(items, problems) of the Adobe layout; see the module docstring for the pairing."""
    test = test_set_folder(src)
    adobe = os.path.join(test, ADOBE_DIR)
    fg_names = [n for n in _names(os.path.join(test, FG_LIST)) if n]
    bg_names = _names(os.path.join(test, BG_LIST))
    voc = voc_folder(backgrounds)
    items, problems = [], []
    for f, fg_name in enumerate(fg_names):
        stem = os.path.splitext(fg_name)[0]
        fg, alpha = os.path.join(adobe, "fg", fg_name), os.path.join(adobe, "alpha", fg_name)
        lost = [p for p in (fg, alpha) if not os.path.isfile(p)]
        for k in range(BACKGROUNDS_PER_FOREGROUND):
            name, index = f"{stem}_{k}", f * BACKGROUNDS_PER_FOREGROUND + k
            trimap = os.path.join(adobe, "trimaps", f"{name}.png")
            if index >= len(bg_names) or not bg_names[index]:
                problems.append(
                    f"{os.path.join(test, BG_LIST)}: no background name on line "
                    f"{index + 1} for {name}; it is skipped"
                )
                continue
            background = os.path.join(voc, bg_names[index])
            missing = lost + [p for p in (background, trimap) if not os.path.isfile(p)]
            if missing:
                problems.append(f"{missing[0]}: missing; {name} is skipped")
                continue
            items.append(Comp1kItem(name, alpha, trimap, fg=fg, background=background))
    return items, problems


def _split_name(stem_k: str):
    stem, _, k = stem_k.rpartition("_")
    return (stem, int(k)) if stem and k.isdigit() else None


def merged_items(src: str) -> tuple[list, list]:
    """(items, problems) of IndexNet's flattened layout, ordered by (fg stem, k)."""
    test = test_set_folder(src)
    merged = os.path.join(test, "merged")
    items, problems = [], []
    keyed = []
    for file in sorted(os.listdir(merged)):
        if file.startswith(".") or not file.lower().endswith(".png"):
            continue
        key = _split_name(os.path.splitext(file)[0])
        if key is None:
            problems.append(f"{os.path.join(merged, file)}: not named <fg stem>_<k>.png; skipped")
            continue
        keyed.append((key, file))
    for (stem, _k), file in sorted(keyed):
        name = os.path.splitext(file)[0]
        alpha = os.path.join(test, "alpha", f"{stem}.png")
        trimap = os.path.join(test, "trimaps", f"{name}.png")
        missing = [p for p in (alpha, trimap) if not os.path.isfile(p)]
        if missing:
            problems.append(f"{missing[0]}: missing; {name} is skipped")
            continue
        items.append(Comp1kItem(name, alpha, trimap, merged=os.path.join(merged, file)))
    return items, problems


def discover(src: str, backgrounds: str | None = None, layout: str = "auto") -> tuple[list, list]:
    """(items, problems) of a Composition-1k source in either layout.

    ``layout="auto"``: compose from the Adobe layout when ``backgrounds`` is given, else read
    ``Test_set/merged``. Raises Comp1kError (one line) when the chosen layout is absent.
    """
    if layout not in LAYOUTS:
        raise Comp1kError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    test = test_set_folder(src)
    has_adobe = os.path.isdir(os.path.join(test, ADOBE_DIR))
    has_merged = os.path.isdir(os.path.join(test, "merged"))
    if layout == "adobe" or (layout == "auto" and backgrounds and has_adobe):
        if not has_adobe:
            raise Comp1kError(f"{os.path.join(test, ADOBE_DIR)}: no such folder (the Adobe layout)")
        if not backgrounds or not os.path.isdir(backgrounds):
            raise Comp1kError(
                f"{backgrounds or '--backgrounds'}: the Adobe layout needs the "
                "PASCAL VOC 2012 images (a folder holding JPEGImages/)"
            )
        return adobe_items(src, backgrounds)
    if has_merged:
        return merged_items(src)
    raise Comp1kError(
        f"{src}: neither Test_set/merged/ (IndexNet's layout) nor "
        f"Test_set/{ADOBE_DIR}/ with --backgrounds (the Adobe layout) was found"
    )


def _channel0(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array[:, :, 0] if array.ndim == 3 else array)


def load_sample(item: Comp1kItem) -> Comp1kSample:
    """Read (and for the Adobe layout compose) one composite. Raises Comp1kError with one
    line naming the file when a file does not decode, cannot be read, or sizes disagree."""
    try:
        trimap = _channel0(decode_pil_resized(item.trimap, None))
        if item.merged is not None:
            image = decode_pil_resized(item.merged, "RGB")
            alpha = _channel0(decode_pil_resized(item.alpha, None))
        else:
            fg = decode_as_imread(item.fg)
            alpha = decode_as_imread(item.alpha, grayscale=True)
            if fg.shape[:2] != alpha.shape:
                raise Comp1kError(
                    f"{item.alpha}: alpha is {alpha.shape[1]}×{alpha.shape[0]}, "
                    f"the foreground {fg.shape[1]}×{fg.shape[0]}; {item.name} is skipped"
                )
            bg = fit_background(decode_as_imread(item.background), *alpha.shape)
            image = compose(fg, alpha, bg)
    except DecodeError as exc:
        raise Comp1kError(f"{exc}; {item.name} is skipped") from None
    except OSError as exc:
        raise Comp1kError(
            f"{exc.filename}: cannot be read ({exc.strerror}); {item.name} is skipped"
        ) from None
    if not image.shape[:2] == alpha.shape == trimap.shape:
        raise Comp1kError(
            f"{item.trimap}: image, alpha and trimap sizes differ "
            f"({image.shape[:2]}, {alpha.shape}, {trimap.shape}); {item.name} is skipped"
        )
    return Comp1kSample(item.name, image, alpha, trimap)


def _load_or_line(item: Comp1kItem):
    try:
        return load_sample(item)
    except Comp1kError as exc:
        return str(exc)


def iter_samples(items, workers: int = 1):
    """Yield ``(item, Comp1kSample or one-line problem)`` in item order, decoding (and
    composing) on ``workers`` threads with at most 2·workers items in flight."""
    if workers <= 1:
        for item in items:
            yield item, _load_or_line(item)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending = []
        for item in items:
            pending.append((item, pool.submit(_load_or_line, item)))
            if len(pending) >= 2 * workers:
                first, future = pending.pop(0)
                yield first, future.result()
        for item, future in pending:
            yield item, future.result()
