"""The study folder that ``hmh-train study make`` writes and ``serve``/``score`` read.

::

    STUDY/
      study.json         the key: {"format": "hmh-study", "version": 1, "seed", "split",
                         "image_size": [H, W], "methods": [...], "method_sources": {...},
                         "samples": [...], "items": {"<item id>": {"sample", "method"}, ...}}
                         (never served to raters)
      instructions.txt   what raters read above the picture (plain text; edit it freely)
      images/<item id>.png   one RGB PNG per item
      ratings.jsonl      written by ``serve``: one JSON object per score, appended + fsynced

Item ids are 12 lower-case hex digits drawn from the study's seed and a digest of its pictures
(``make.id_generator``), so neither the id nor the file name says which method or sample an
image shows, even to someone who knows the seed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

import numpy as np

STUDY_FORMAT = "hmh-study"
STUDY_VERSION = 1
STUDY_JSON = "study.json"
INSTRUCTIONS_TXT = "instructions.txt"
IMAGES_DIR = "images"
RATINGS_JSONL = "ratings.jsonl"
#: The unharmonized composite's method name (the reference every method has to beat).
COMPOSITE_METHOD = "I_d"
#: The real photograph's method name (``--include-real``; an upper anchor).
REAL_METHOD = "I"
ITEM_ID = re.compile(r"[0-9a-f]{12}")
#: Checkpoint suffixes removed to make a method name (longest first).
CKPT_SUFFIXES = (".pth.tar", ".pt", ".pth", ".tar", ".ckpt")

#: The paper's criterion, as raters read it (plain text; paragraphs split on blank lines).
DEFAULT_INSTRUCTIONS = """\
Each picture shows a person in front of a background. Some pictures are real photographs; \
others were put together from a person and a background taken apart.

Score how real each picture looks: do the person (foreground) and the background look as if \
they had been photographed together, under the same light and with the same colours?

1 = bad (clearly pasted together) · 2 = poor · 3 = fair · 4 = good · \
5 = excellent (looks like one real photograph)

Judge only that: not the person, the scene, or the picture's size or sharpness. Click a \
button or press the keys 1–5. There is no time limit; you can leave and come back later \
with the same name."""


class StudyError(ValueError):
    """A study folder that cannot be used; ``str()`` is one line naming the file."""


@dataclass(frozen=True)
class Study:
    """A loaded study folder. ``items`` maps item id → {"sample", "method"}; ``order`` is the
    sorted item ids (the base every rater's permutation is drawn from)."""

    root: str
    seed: int
    methods: tuple
    samples: tuple
    items: dict
    instructions: str

    @property
    def order(self) -> tuple:
        return tuple(sorted(self.items))

    def image_path(self, item: str) -> str:
        return image_path(self.root, item)


def image_path(root: str, item: str) -> str:
    """``root/images/<item>.png`` (``item`` must already be a valid id)."""
    return os.path.join(root, IMAGES_DIR, f"{item}.png")


def method_name(path: str) -> str:
    """A method's name: the run folder's name, or the checkpoint file's name without its
    suffix (``runs/joint`` and ``runs/joint/checkpoints/best.pt`` → ``joint``;
    ``latest_net_G.pth`` → ``latest_net_G``; ``model.pth.tar`` → ``model``)."""
    path = os.path.abspath(os.fspath(path))  # "." or "best.pt" inside the run name the run too
    name = os.path.basename(path)
    if os.path.isdir(path):
        return name
    parent = os.path.dirname(path)
    if (
        name in ("best.pt", "last.pt")
        and os.path.basename(parent) == "checkpoints"
        and os.path.basename(os.path.dirname(parent))
    ):
        return os.path.basename(os.path.dirname(parent))  # RUN/checkpoints/best.pt → RUN's name
    for suffix in CKPT_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def draw_item_ids(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct 12-hex-digit ids from ``rng`` (48 random bits each)."""
    ids: list[str] = []
    seen = set()
    while len(ids) < count:
        item = f"{int(rng.integers(0, 2**48)):012x}"
        if item not in seen:
            seen.add(item)
            ids.append(item)
    return ids


def rater_order(study: Study, rater: str) -> list[str]:
    """The order ``rater`` sees the items in: a permutation of the sorted ids drawn from
    ``default_rng(sample_seed(seed, "rater:" + name))`` — the same on every visit and after a
    restart, different between raters."""
    from hmh_builder.schema import sample_seed

    rng = np.random.default_rng(sample_seed(study.seed, f"rater:{rater}"))
    order = study.order
    return [order[k] for k in rng.permutation(len(order))]


def _fail(path: str, why: str):
    raise StudyError(f"{path}: {why}")


def _check_items(path: str, items, methods, samples) -> dict:
    if not isinstance(items, dict) or not items:
        _fail(path, "'items' must be a non-empty object {item id: {sample, method}}")
    for item, entry in items.items():
        if not ITEM_ID.fullmatch(str(item)):
            _fail(path, f"item id {item!r} is not 12 lower-case hex digits")
        if (
            not isinstance(entry, dict)
            or entry.get("method") not in methods
            or entry.get("sample") not in samples
        ):
            _fail(path, f"item {item}: needs a 'sample' from 'samples' and a 'method' from 'methods'")
    return {item: {"sample": e["sample"], "method": e["method"]} for item, e in items.items()}


def load_study(root, check_images: bool = True) -> Study:
    """Read and check ``root/study.json`` (and that every item's image exists);
    ``StudyError`` naming the file otherwise."""
    root = os.fspath(root)
    path = os.path.join(root, STUDY_JSON)
    if not os.path.isdir(root):
        raise StudyError(f"{root}: no such study folder (make one with hmh-train study make)")
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        raise StudyError(f"{path}: missing; is {root} a folder made by hmh-train study make?") from None
    except (OSError, ValueError) as exc:
        raise StudyError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != STUDY_FORMAT:
        _fail(path, f"not an {STUDY_FORMAT} file")
    if data.get("version") != STUDY_VERSION:
        _fail(path, f"version {data.get('version')!r} is not supported (expected {STUDY_VERSION})")
    methods, samples = data.get("methods"), data.get("samples")
    if not isinstance(methods, list) or not isinstance(samples, list) or not methods or not samples:
        _fail(path, "'methods' and 'samples' must be non-empty lists")
    items = _check_items(path, data.get("items"), set(methods), set(samples))
    if check_images:
        for item in sorted(items):
            if not os.path.isfile(image_path(root, item)):
                _fail(image_path(root, item), "missing (every item of study.json needs its image)")
    instructions = DEFAULT_INSTRUCTIONS
    if os.path.isfile(os.path.join(root, INSTRUCTIONS_TXT)):
        with open(os.path.join(root, INSTRUCTIONS_TXT), encoding="utf-8", errors="replace") as handle:
            instructions = handle.read().strip() or DEFAULT_INSTRUCTIONS
    return Study(
        root=root,
        seed=int(data.get("seed", 0)),
        methods=tuple(methods),
        samples=tuple(samples),
        items=items,
        instructions=instructions,
    )
