"""``hmh-build backgrounds``: shard a folder of scene images for test-time composition.

Output (documented in the schema module and docs/verify-release.md):
``BG/manifest.json`` (format ``hmh-backgrounds-manifest``), ``BG/failures.jsonl`` and
``BG/backgrounds/backgrounds-NNNNN.h5`` holding ``image`` (N, H, W, 3) uint8 **RGB** and
``id`` (the source path relative to ``--src``, "/"-separated, with extension).

Every image (any nesting; .jpg/.jpeg/.png, any case; files of other image formats become
"decode" failures naming the format) is centre-cropped to the output aspect
ratio and resized to H×W with area interpolation (aspect kept, nothing distorted). Shards are
written as ``*.h5.tmp`` and renamed into place; one task per shard (a shard index and a list
of relative paths) returns only its manifest entry, digests and failures, so tasks run in
parallel through ``hmh_builder.pipeline.distribute`` (local processes or a dask cluster).
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass

import numpy as np

from hmh_builder import __version__, schema
from hmh_builder.fsio import TMP_SUFFIX, SourceError, atomic_write_text, remove_quietly, walk_files
from hmh_builder.imageio import OTHER_IMAGE_EXTENSIONS, READ_FORMATS, DecodeError, decode_image
from hmh_builder.pipeline.sources import failure
from hmh_builder.pipeline.writer import publish

EXTENSIONS = (".jpg", ".jpeg", ".png")
#: Listed too, so that they become "decode" failures naming their format.
_LISTED = EXTENSIONS + OTHER_IMAGE_EXTENSIONS


class BackgroundError(ValueError):
    """The build cannot go on; the message is one line naming the path."""


@dataclass(frozen=True)
class BackgroundConfig:
    """What decides the content of a background build (recorded and hashed in the manifest)."""

    source: str
    size: tuple = (256, 256)
    shard_size: int = 1000
    fit: str = "centre-crop+area-resize"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["size"] = list(self.size)
        return data


def discover(src: str) -> list:
    """Relative "/"-separated paths of every image under ``src``, sorted. The same walk as the
    portrait sources: symlinked folders are followed (a loop only once), hidden files skipped;
    an unlistable folder raises BackgroundError naming it."""
    try:
        return walk_files(src, "", _LISTED)
    except SourceError as exc:
        raise BackgroundError(str(exc)) from None


def fit_background(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre-crop uint8 RGB (h, w, 3) to the aspect of H×W, then resize (area) to (H, W, 3)."""
    import cv2

    h, w = image.shape[:2]
    if h * width > w * height:  # too tall: crop rows
        crop = max(1, round(w * height / width))
        top = (h - crop) // 2
        image = image[top : top + crop]
    else:
        crop = max(1, round(h * width / height))
        left = (w - crop) // 2
        image = image[:, left : left + crop]
    interpolation = cv2.INTER_AREA if image.shape[0] >= height else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(image), (width, height), interpolation=interpolation)


def write_shard(out_dir: str, index: int, rels: list, config: dict, config_hash: str) -> dict:
    """Decode, fit and write one shard; returns {"entry", "digests", "failures"} (small)."""
    import h5py

    height, width = config["size"]
    rel_path = schema.background_shard_filename(index)
    path = os.path.join(out_dir, rel_path)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    digests, failures, ids = [], [], []
    try:
        with h5py.File(path + TMP_SUFFIX, "w") as h5:
            schema.create_background_datasets(h5, len(rels), height, width, resizable=True)
            for key, value in schema.background_attrs(height, width, __version__, config_hash).items():
                h5.attrs[key] = value
            for rel in rels:
                try:
                    image = decode_image(os.path.join(config["source"], rel), formats=READ_FORMATS)
                except DecodeError as exc:
                    failures.append(failure(rel, rel, "decode", f"{rel} {exc.reason}"))
                    continue
                image = fit_background(image, height, width)
                h5[schema.BACKGROUND_IMAGE_DATASET][len(ids)] = image
                ids.append(rel)
                digests.append((rel, schema.background_digest(rel, image)))
            _shrink(h5, len(ids))
            h5["id"][:] = ids
        return {
            "entry": publish(path, rel_path, schema.BACKGROUND_SPLIT, len(ids)),
            "digests": digests,
            "failures": failures,
        }
    except BaseException:
        remove_quietly(path + TMP_SUFFIX)
        raise


def _shrink(h5, rows: int) -> None:
    for name in (schema.BACKGROUND_IMAGE_DATASET, "id"):
        h5[name].resize(rows, axis=0)


@dataclass(frozen=True)
class BackgroundTask:
    """One shard to write: its index and the source paths (relative to --src) it holds."""

    name: str
    index: int
    rels: tuple


def run_task(task: BackgroundTask, context: dict) -> dict:
    """Worker entry point for :func:`hmh_builder.pipeline.distribute.run_tasks` (picklable)."""
    return write_shard(
        context["out_dir"], task.index, list(task.rels), context["config"], context["config_hash"]
    )


def build_backgrounds(
    config: BackgroundConfig,
    out_dir: str,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = False,
    backend: str = "local",
    scheduler: str | None = None,
) -> dict:
    """Shard every image under ``config.source`` into ``out_dir``; returns the manifest.

    ``backend``/``scheduler`` as in :func:`hmh_builder.pipeline.distribute.run_tasks` (local
    processes or a dask cluster whose workers see the same --src and --out paths).
    """
    from tqdm import tqdm

    from hmh_builder.pipeline.distribute import BackendError, run_tasks

    started = time.time()
    rels = _prepare(config, out_dir, overwrite)
    data, chash = config.to_dict(), schema.config_hash(config.to_dict())
    tasks = [
        BackgroundTask(f"backgrounds-{k:05d}", k, tuple(rels[i : i + config.shard_size]))
        for k, i in enumerate(range(0, len(rels), config.shard_size))
    ]
    context = {"out_dir": os.path.abspath(out_dir), "config": data, "config_hash": chash}
    results = []
    try:
        stream = run_tasks(run_task, tasks, context, workers, backend, scheduler)
        for result in tqdm(stream, total=len(tasks), unit="shard", disable=not progress):
            results.append(result)
    except BackendError as exc:
        raise BackgroundError(str(exc)) from None
    except OSError as exc:
        raise BackgroundError(f"{getattr(exc, 'filename', None) or out_dir}: {exc.strerror or exc}") from None
    return _write_manifest(out_dir, config, chash, len(rels), results, started, workers)


def _prepare(config: BackgroundConfig, out_dir: str, overwrite: bool) -> list:
    if not os.path.isdir(config.source):
        raise BackgroundError(f"{config.source}: no such folder")
    if os.path.isdir(out_dir) and os.listdir(out_dir):
        if not overwrite:
            raise BackgroundError(f"{out_dir} is not empty (use --overwrite to replace it)")
        import shutil

        shutil.rmtree(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    rels = discover(config.source)
    if not rels:
        raise BackgroundError(f"{config.source}: no .jpg/.jpeg/.png images found")
    return rels


def _write_manifest(out_dir, config, chash, discovered, results, started, workers) -> dict:
    entries = sorted((r["entry"] for r in results if r["entry"]), key=lambda e: e["path"])
    digests = [d for r in results for d in r["digests"]]
    failures = sorted((f for r in results for f in r["failures"]), key=lambda f: f["path"])
    atomic_write_text(
        os.path.join(out_dir, "failures.jsonl"), "".join(json.dumps(f) + "\n" for f in failures)
    )
    manifest = {
        "format": schema.BACKGROUND_MANIFEST_FORMAT,
        "format_version": schema.FORMAT_VERSION,
        "builder_version": __version__,
        "config": config.to_dict(),
        "config_hash": chash,
        "counts": {
            "discovered": discovered,
            "written": len(digests),
            "failed": len(failures),
            schema.BACKGROUND_SPLIT: len(digests),
        },
        "shards": entries,
        "content_digest": schema.content_digest(digests),
        "run": {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "host": platform.node(),
            "duration_s": round(time.time() - started, 3),
            "workers": workers,
        },
    }
    atomic_write_text(os.path.join(out_dir, "manifest.json"), json.dumps(manifest, indent=2) + "\n")
    return manifest
