"""Batch form of ``hmh-train composite``: a folder of portraits onto seeded random backgrounds.

Backgrounds come from (checked in this order):

- a background shard file (``*.h5`` with ``image`` (N, H, W, 3) uint8 RGB and ``id``),
- an ``hmh-build backgrounds`` output folder (``backgrounds/backgrounds-*.h5``),
- a plain folder of images (searched recursively; sorted by relative path).

Portrait ``stem`` gets background ``default_rng(schema.sample_seed(seed, stem)).integers(N)``.
Outputs: ``OUT/<stem>.png`` (harmonized, or the plain composite without a harmonization net),
``OUT/figures/<stem>.jpg`` with ``--figures``, ``OUT/backgrounds.csv`` (stem, background id),
and ``OUT/failures.csv`` (stem, reason) for portraits that could not be used; the others go on.
"""

from __future__ import annotations

import bisect
import csv
import glob
import os

import numpy as np
from tqdm import tqdm

from hmh_builder import schema
from hmh_train.infer.composite import compose_files, write_result
from hmh_train.infer.files import IMAGE_EXTENSIONS, CompositeError, read_rgb


class BackgroundPool:
    """Indexable backgrounds: ``pool[i]`` → (id, uint8 RGB (H, W, 3)); HDF5 opened lazily."""

    def __init__(self, source: str):
        self.source = os.fspath(source)
        self.files, self.paths, self.offsets, self._handles = [], [], [0], {}
        if os.path.isfile(self.source):
            self.files = [self.source]
        elif os.path.isdir(self.source):
            self.files = sorted(glob.glob(os.path.join(self.source, schema.BACKGROUND_SPLIT, "*.h5")))
            if not self.files:
                self.paths = _image_walk(self.source)
        else:
            raise CompositeError(f"{self.source}: no such background file or folder")
        for path in self.files:
            self.offsets.append(self.offsets[-1] + self._count(path))
        if len(self) == 0:
            raise CompositeError(
                f"{self.source}: no backgrounds found (images, *.h5 background "
                "shards, or an hmh-build backgrounds folder)"
            )

    @staticmethod
    def _count(path: str) -> int:
        import h5py

        try:
            with h5py.File(path, "r") as h5:
                problems = schema.check_background_shard(h5)
                if problems:
                    raise CompositeError(f"{path}: not a background shard ({problems[0]})")
                return int(h5["id"].shape[0])
        except OSError as exc:
            raise CompositeError(f"{path}: not a readable HDF5 file ({exc})") from None

    def __len__(self) -> int:
        return len(self.paths) if self.paths else self.offsets[-1]

    def __getitem__(self, index: int):
        if self.paths:
            rel = self.paths[index]
            return rel, read_rgb(os.path.join(self.source, rel))
        import h5py

        shard = bisect.bisect_right(self.offsets, index) - 1
        if shard not in self._handles:
            self._handles[shard] = h5py.File(self.files[shard], "r")
        h5, row = self._handles[shard], index - self.offsets[shard]
        sample_id = h5["id"][row]
        sample_id = sample_id.decode("utf-8") if isinstance(sample_id, bytes) else str(sample_id)
        return sample_id, np.asarray(h5[schema.BACKGROUND_IMAGE_DATASET][row])

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles = {}


def _image_walk(folder: str) -> list[str]:
    """Sorted "/" paths of the images under ``folder``, by the builder's source walk (symlinked
    folders followed, a loop only once; hidden files skipped; an unlistable folder named)."""
    from hmh_builder.fsio import SourceError, walk_files

    try:
        return walk_files(folder, "", IMAGE_EXTENSIONS)
    except SourceError as exc:
        raise CompositeError(str(exc)) from None


def background_index(seed: int, stem: str, count: int) -> int:
    """The background drawn for portrait ``stem``: independent of order and of other portraits."""
    return int(np.random.default_rng(schema.sample_seed(seed, stem)).integers(count))


def list_images(folder: str) -> list[str]:
    if not os.path.isdir(folder):
        raise CompositeError(f"{folder}: no such folder of images")
    return sorted(p for p in glob.glob(os.path.join(folder, "*")) if p.lower().endswith(IMAGE_EXTENSIONS))


def same_stem(folder: str | None, stem: str) -> str | None:
    """The file in ``folder`` named ``stem`` + an image extension (None without a folder)."""
    if folder is None:
        return None
    for ext in IMAGE_EXTENSIONS + tuple(e.upper() for e in IMAGE_EXTENSIONS):
        path = os.path.join(folder, stem + ext)
        if os.path.isfile(path):
            return path
    raise CompositeError(f"{os.path.join(folder, stem)}.*: no file with this name for portrait {stem}")


def composite_folder(cfg, model) -> dict:
    """Batch form; returns {"written", "failed", "out"}; failures are listed, not raised."""
    images = list_images(cfg.images)
    if not images:
        raise CompositeError(f"{cfg.images}: no images ({', '.join(IMAGE_EXTENSIONS)})")
    if sum(bool(x) for x in (cfg.trimaps, cfg.alphas, cfg.masks, cfg.auto_mask)) != 1:
        raise CompositeError(
            "the batch form needs exactly one of --trimaps, --alphas or --masks (folders), or --auto-mask"
        )
    for name, folder in (
        ("--images", cfg.images),
        ("--trimaps", cfg.trimaps),
        ("--alphas", cfg.alphas),
        ("--masks", cfg.masks),
    ):
        if folder and os.path.realpath(folder) == os.path.realpath(cfg.out):
            raise CompositeError(
                f"{cfg.out}: --out is also the {name} folder; results would "
                "overwrite the inputs (<stem>.png); choose another --out"
            )
    pool = BackgroundPool(cfg.backgrounds)
    os.makedirs(cfg.out, exist_ok=True)
    chosen, failures = [], []
    try:
        for path in tqdm(images, desc="composite", unit="image", disable=not cfg.progress):
            stem = os.path.splitext(os.path.basename(path))[0]
            try:
                image = read_rgb(path, cfg.max_pixels)
                guides = {
                    "trimap": same_stem(cfg.trimaps, stem),
                    "alpha": same_stem(cfg.alphas, stem),
                    "mask": same_stem(cfg.masks, stem),
                }
                bg_id, background = pool[background_index(cfg.seed, stem, len(pool))]
                made = compose_files(cfg, model, image, background, guides, path)
                figure = os.path.join(cfg.out, "figures", f"{stem}.jpg") if cfg.figures else None
                write_result(made, image, os.path.join(cfg.out, f"{stem}.png"), figure)
                chosen.append((stem, bg_id))
            except CompositeError as exc:
                failures.append((stem, str(exc)))
    finally:
        pool.close()
    _write_csv(os.path.join(cfg.out, "backgrounds.csv"), ("portrait", "background"), chosen)
    _write_csv(os.path.join(cfg.out, "failures.csv"), ("portrait", "reason"), failures)
    return {"written": len(chosen), "failed": len(failures), "out": cfg.out, "failures": failures}


def _write_csv(path: str, header, rows) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
