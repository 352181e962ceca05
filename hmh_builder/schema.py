"""The HMH shard and manifest contract (``docs/FORMAT.md``, version 1) in code.

This is the one module that knows dataset names, dtypes, shapes, chunking and attributes.
Both ``hmh_builder`` (writer, verify, release) and ``hmh_train`` (reader) import it, so it
depends on numpy, h5py and the standard library only.

All image arrays are **RGB**, uint8, channel-last: ``(N, H, W, 3)``; the matte ``A`` is
``(N, H, W)`` uint8 with 0 = background and 255 = foreground.

Shards come in two *kinds* (the ``kind`` file attribute and manifest field; absent means
``"hmh"``): HMH shards (I, A, F, B, I_d) and harmonization-pair shards (``"harmonization"``:
I, I_d and the mask M of the changed region, e.g. iHarmony4). Functions that read a shard
dispatch on :func:`shard_kind`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import h5py

SHARD_FORMAT = "hmh-shard"
MANIFEST_FORMAT = "hmh-manifest"
FORMAT_VERSION = 1
CHANNEL_ORDER = "RGB"
SPLITS = ("train", "test")
TRANSFORMS = ("reinhard", "illumination", "saturation")
FAILURE_STAGES = ("decode", "pair", "validate", "process")

#: Image datasets every shard holds, in the order they enter the content digest.
RGB_DATASETS = ("I", "F", "B", "I_d")
MATTE_DATASET = "A"
IMAGE_DATASETS = ("I", "A", "F", "B", "I_d")
#: Optional image dataset (stored only on request); readers must not require it.
OPTIONAL_IMAGE_DATASETS = ("B_t",)
STRING_DATASETS = ("id", "transform", "params")

REQUIRED_ATTRS = (
    "format",
    "format_version",
    "channel_order",
    "split",
    "size",
    "builder_version",
    "config_hash",
)

#: Which side of the portrait ``I_d`` alters (additive to version 1: shard attribute
#: ``altered`` and manifest ``config.altered``; a file without it means "background").
#: ``background``: I_d = A·I + (1−A)·B_t (the paper's main setting); ``foreground``:
#: I_d = A·F_t + (1−A)·B with F_t the adjusted portrait (the paper's Fig. 6 variant).
ALTERED_SIDES = ("background", "foreground")
DEFAULT_ALTERED = "background"
#: Shard kinds: the ``kind`` attribute / manifest field; absent means ``KIND_HMH``.
KIND_HMH = "hmh"
KIND_PAIRS = "harmonization"
KINDS = (KIND_HMH, KIND_PAIRS)
#: Harmonization-pair shards: real image, composite, mask of the changed region (255 = changed).
PAIR_IMAGE_DATASETS = ("I", "I_d", "M")
PAIR_STRING_DATASETS = ("id", "subset")


@dataclass(frozen=True)
class DatasetSpec:
    """Name, dtype and per-sample shape of one dataset in a shard (per-sample shape for size H×W)."""

    name: str
    per_sample_shape: tuple[int, ...]
    is_string: bool = False


def dataset_specs(height: int, width: int, with_b_t: bool = False, kind: str = KIND_HMH) -> list[DatasetSpec]:
    """Every dataset a shard of H×W samples of ``kind`` holds, in FORMAT.md order."""
    if kind == KIND_PAIRS:
        return [
            DatasetSpec("I", (height, width, 3)),
            DatasetSpec("I_d", (height, width, 3)),
            DatasetSpec("M", (height, width)),
        ] + [DatasetSpec(name, (), is_string=True) for name in PAIR_STRING_DATASETS]
    specs = [DatasetSpec(name, (height, width, 3)) for name in ("I",)]
    specs.append(DatasetSpec("A", (height, width)))
    specs += [DatasetSpec(name, (height, width, 3)) for name in ("F", "B", "I_d")]
    if with_b_t:
        specs.append(DatasetSpec("B_t", (height, width, 3)))
    specs += [DatasetSpec(name, (), is_string=True) for name in STRING_DATASETS]
    return specs


def string_dtype() -> np.dtype[Any]:
    """The h5py variable-length UTF-8 string dtype used for ``id``, ``transform``, ``params``."""
    import h5py

    dtype: np.dtype[Any] = h5py.string_dtype(encoding="utf-8")
    return dtype


def create_shard_datasets(
    h5file: h5py.File,
    n_samples: int,
    height: int,
    width: int,
    with_b_t: bool = False,
    resizable: bool = False,
    kind: str = KIND_HMH,
) -> None:
    """Create every dataset of a shard of ``kind`` in an open, writable h5py File (one sample
    per chunk).

    ``resizable=True`` gives every dataset an unlimited first dimension (strings chunked), so
    a writer can reserve ``n_samples`` rows and shrink to the rows it filled with
    :func:`resize_shard_datasets`; readers see no difference.
    """
    for spec in dataset_specs(height, width, with_b_t, kind):
        maxshape: dict[str, tuple[int | None, ...]] = {}
        if resizable:
            maxshape["maxshape"] = (None,) + spec.per_sample_shape
        if spec.is_string:
            rows = {"chunks": (max(1, min(n_samples, 1024)),)} if resizable else {}
            h5file.create_dataset(spec.name, shape=(n_samples,), dtype=string_dtype(), **rows, **maxshape)
        else:
            shape = (n_samples,) + spec.per_sample_shape
            chunks = (1,) + spec.per_sample_shape
            h5file.create_dataset(spec.name, shape=shape, dtype=np.uint8, chunks=chunks, **maxshape)


def resize_shard_datasets(h5file: h5py.File, n_samples: int) -> None:
    """Set the sample count of every dataset created with ``resizable=True``."""
    for name in dict.fromkeys(
        IMAGE_DATASETS
        + OPTIONAL_IMAGE_DATASETS
        + STRING_DATASETS
        + PAIR_IMAGE_DATASETS
        + PAIR_STRING_DATASETS
    ):
        if name in h5file:
            h5file[name].resize(n_samples, axis=0)


def shard_attrs(
    split: str,
    height: int,
    width: int,
    builder_version: str,
    config_hash: str,
    altered: str = DEFAULT_ALTERED,
    kind: str = KIND_HMH,
) -> dict[str, Any]:
    """The file attributes FORMAT.md requires on every shard: ``altered`` on HMH shards,
    ``kind`` only when not HMH (so HMH shards carry no ``kind``)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if altered not in ALTERED_SIDES:
        raise ValueError(f"altered must be one of {ALTERED_SIDES}, got {altered!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    extra = {"kind": kind} if kind != KIND_HMH else {"altered": altered}
    return {
        "format": SHARD_FORMAT,
        "format_version": FORMAT_VERSION,
        "channel_order": CHANNEL_ORDER,
        "split": split,
        "size": [int(height), int(width)],
        "builder_version": builder_version,
        "config_hash": config_hash,
        **extra,
    }


def altered_of(attrs: Mapping[str, Any]) -> str:
    """The side a shard alters, from its attributes (an h5py ``attrs`` or a dict).

    Files written before the attribute existed mean :data:`DEFAULT_ALTERED`. Raises
    ValueError (one sentence) for a value that is not in :data:`ALTERED_SIDES`.
    """
    value = _decode(attrs["altered"]) if "altered" in attrs else DEFAULT_ALTERED
    if value not in ALTERED_SIDES:
        raise ValueError(f"attribute altered is {value!r}, expected one of {ALTERED_SIDES}")
    return value


def manifest_altered(manifest: Mapping[str, Any]) -> str:
    """The side a build alters, from ``manifest["config"]["altered"]`` (default background).

    Raises ValueError (one sentence) for a value that is not in :data:`ALTERED_SIDES`.
    """
    config = manifest.get("config")
    value = config.get("altered", DEFAULT_ALTERED) if isinstance(config, Mapping) else DEFAULT_ALTERED
    if value not in ALTERED_SIDES:
        raise ValueError(f"config.altered is {value!r}, expected one of {ALTERED_SIDES}")
    return value


def shard_filename(split: str, index: int) -> str:
    """Relative path of shard ``index`` of ``split``: ``train/train-00000.h5``."""
    return f"{split}/{split}-{index:05d}.h5"


def _decode(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def shard_kind(h5file: h5py.File) -> str:
    """The kind of an open shard: its ``kind`` attribute, ``"hmh"`` when absent."""
    return _decode(h5file.attrs["kind"]) if "kind" in h5file.attrs else KIND_HMH


def manifest_kind(manifest: Mapping[str, Any]) -> str:
    """The kind of a build/release manifest: its ``kind`` field, ``"hmh"`` when absent."""
    return str(manifest.get("kind", KIND_HMH)) if isinstance(manifest, Mapping) else KIND_HMH


def image_datasets(kind: str) -> tuple[str, ...]:
    """Image dataset names of a shard of ``kind`` (content-digest order)."""
    return PAIR_IMAGE_DATASETS if kind == KIND_PAIRS else IMAGE_DATASETS


def string_datasets(kind: str) -> tuple[str, ...]:
    """String dataset names of a shard of ``kind``."""
    return PAIR_STRING_DATASETS if kind == KIND_PAIRS else STRING_DATASETS


def _header_problems(attrs: Mapping[str, Any], expected_format: str) -> list[str]:
    """Problems with the format, format_version and channel_order attributes (present)."""
    problems = []
    if _decode(attrs["format"]) != expected_format:
        problems.append(f"attribute format is {_decode(attrs['format'])!r}, expected {expected_format!r}")
    if int(attrs["format_version"]) != FORMAT_VERSION:
        problems.append(
            f"format_version is {int(attrs['format_version'])}, this reader knows {FORMAT_VERSION}"
        )
    if _decode(attrs["channel_order"]) != CHANNEL_ORDER:
        problems.append(f"channel_order is {_decode(attrs['channel_order'])!r}, expected 'RGB'")
    return problems


def check_shard(h5file: h5py.File, expect_split: str | None = None) -> list[str]:
    """Problems with an open shard's schema (names, dtypes, shapes, attributes); [] when valid.

    Every problem is one plain sentence that does not name the file (the caller adds it).
    """
    problems = []
    attrs = h5file.attrs
    for key in REQUIRED_ATTRS:
        if key not in attrs:
            problems.append(f"attribute {key!r} is missing")
    if problems:
        return problems
    problems += _header_problems(attrs, SHARD_FORMAT)
    if "altered" in attrs and _decode(attrs["altered"]) not in ALTERED_SIDES:
        problems.append(
            f"attribute altered is {_decode(attrs['altered'])!r}, expected one of {ALTERED_SIDES}"
        )
    split = _decode(attrs["split"])
    if split not in SPLITS or (expect_split is not None and split != expect_split):
        problems.append(f"split attribute is {split!r}, expected {expect_split or SPLITS!r}")
    kind = shard_kind(h5file)
    if kind not in KINDS:
        return problems + [f"kind attribute is {kind!r}, this reader knows {', '.join(KINDS)}"]
    height, width = (int(v) for v in attrs["size"])
    n_samples = h5file["id"].shape[0] if "id" in h5file else None
    with_b_t = "B_t" in h5file
    for spec in dataset_specs(height, width, with_b_t, kind):
        if spec.name not in h5file:
            problems.append(f"dataset {spec.name!r} is missing")
            continue
        dset = h5file[spec.name]
        expected_shape = (n_samples,) + spec.per_sample_shape
        if dset.shape != expected_shape:
            problems.append(f"dataset {spec.name!r} has shape {dset.shape}, expected {expected_shape}")
        if spec.is_string:
            if dset.dtype.kind != "O":
                problems.append(f"dataset {spec.name!r} has dtype {dset.dtype}, expected UTF-8 strings")
        elif dset.dtype != np.uint8:
            problems.append(f"dataset {spec.name!r} has dtype {dset.dtype}, expected uint8")
    return problems


def sample_digest(
    sample_id: str,
    transform: str,
    params: str,
    images: Mapping[str, np.ndarray],
    altered: str = DEFAULT_ALTERED,
) -> str:
    """SHA-256 hex digest of one sample's arrays and metadata.

    ``images`` maps each name of :data:`IMAGE_DATASETS` (``B_t`` is never included) to its
    uint8 array for that one sample. The digest covers names, shapes and bytes, so it is the
    same however the sample was stored. A ``foreground`` sample also hashes the side first
    (so the two sides never share a digest); a ``background`` one hashes exactly what it did
    before the attribute existed, so older digests stay valid.
    """
    if altered not in ALTERED_SIDES:
        raise ValueError(f"altered must be one of {ALTERED_SIDES}, got {altered!r}")
    h = hashlib.sha256()
    if altered != DEFAULT_ALTERED:
        h.update(b"altered")
        _hash_texts(h, (altered,))
    _hash_texts(h, (sample_id, transform, params))
    _hash_arrays(h, images, IMAGE_DATASETS)
    return h.hexdigest()


class Hasher(Protocol):
    """What the digests feed bytes to (a ``hashlib`` object)."""

    def update(self, data: bytes, /) -> None: ...


def _hash_texts(h: Hasher, texts: Iterable[str]) -> None:
    """Feed each text to ``h`` as its UTF-8 length (8 bytes, little-endian) and bytes."""
    for text in texts:
        encoded = text.encode("utf-8")
        h.update(len(encoded).to_bytes(8, "little"))
        h.update(encoded)


def _hash_arrays(h: Hasher, images: Mapping[str, np.ndarray], names: Iterable[str]) -> None:
    """Feed ``images[name]`` for each name to ``h``: the name, repr of the shape, the uint8 bytes."""
    for name in names:
        array = np.ascontiguousarray(images[name], dtype=np.uint8)
        h.update(name.encode("ascii"))
        h.update(repr(array.shape).encode("ascii"))
        h.update(array.tobytes())


def content_digest(sample_digests: Iterable[tuple[str, str]]) -> str:
    """Combine ``(sample_id, sample_digest)`` pairs into the dataset's ``content_digest``.

    Pairs are sorted by sample id first, so the result does not depend on shard boundaries,
    worker count or order.
    """
    h = hashlib.sha256()
    for sample_id, digest in sorted(sample_digests):
        h.update(f"{sample_id}\t{digest}\n".encode())
    return h.hexdigest()


def pair_digest(sample_id: str, subset: str, images: Mapping[str, np.ndarray]) -> str:
    """SHA-256 hex digest of one harmonization pair: id, subset and the uint8 arrays of
    :data:`PAIR_IMAGE_DATASETS` (names, shapes and bytes)."""
    h = hashlib.sha256()
    _hash_texts(h, (sample_id, subset))
    _hash_arrays(h, images, PAIR_IMAGE_DATASETS)
    return h.hexdigest()


def read_sample_digests(h5file: h5py.File) -> list[tuple[str, str]]:
    """Recompute ``(id, digest)`` for every sample of an open shard (either kind; an HMH
    shard's side from its ``altered`` attribute)."""
    ids = [_decode(v) for v in h5file["id"][()]]
    if shard_kind(h5file) == KIND_PAIRS:
        subsets = [_decode(v) for v in h5file["subset"][()]]
        return [
            (i, pair_digest(i, subsets[k], {n: h5file[n][k] for n in PAIR_IMAGE_DATASETS}))
            for k, i in enumerate(ids)
        ]
    altered = altered_of(h5file.attrs)
    transforms = [_decode(v) for v in h5file["transform"][()]]
    params = [_decode(v) for v in h5file["params"][()]]
    out = []
    for index, sample_id in enumerate(ids):
        images = {name: h5file[name][index] for name in IMAGE_DATASETS}
        out.append((sample_id, sample_digest(sample_id, transforms[index], params[index], images, altered)))
    return out


def file_sha256(path: str | os.PathLike[str], block_size: int = 1 << 22) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(block_size), b""):
            h.update(block)
    return h.hexdigest()


#: Config keys that say where a build ran, not what it holds: left out of the config hash, so
#: a release can redact them (no local paths) and the hash still checks.
UNHASHED_CONFIG_KEYS = ("source",)


def config_hash(config: Mapping[str, Any]) -> str:
    """Stable short hash (16 hex) of a JSON-serialisable config mapping (key order ignored),
    without the UNHASHED_CONFIG_KEYS (the source folder's path)."""
    content = {k: v for k, v in config.items() if k not in UNHASHED_CONFIG_KEYS}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def load_manifest(out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``OUT/manifest.json``; raises ValueError with a one-line reason when unusable."""
    path = os.path.join(out_dir, "manifest.json")
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle)
    except FileNotFoundError:
        raise ValueError(f"{path}: no manifest.json (is this an hmh-build output folder?)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(manifest, dict):
        raise ValueError(f"{path}: holds a JSON {type(manifest).__name__}, not a manifest object")
    if manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{path}: format is {manifest.get('format')!r}, expected {MANIFEST_FORMAT!r}")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: format_version {manifest.get('format_version')!r} is not supported "
            f"(this tool reads version {FORMAT_VERSION})"
        )
    return manifest


def split_of(sample_id: str, test_fraction: float) -> str:
    """Train/test split of a sample: a pure function of its id and the test fraction.

    The first 8 bytes of SHA-256(id) as a fraction in [0, 1); below ``test_fraction`` → test.
    """
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError(f"test_fraction must be in [0, 1], got {test_fraction}")
    value = int.from_bytes(hashlib.sha256(sample_id.encode("utf-8")).digest()[:8], "big") / 2.0**64
    return "test" if value < test_fraction else "train"


def sample_seed(seed: int, sample_id: str) -> list[int]:
    """Seed sequence for ``numpy.random.default_rng`` of one sample: ``[seed, id_hash]``.

    Every random choice for a sample comes from ``default_rng(sample_seed(seed, id))``, so the
    content never depends on worker count or order.
    """
    id_hash = int.from_bytes(hashlib.sha256(sample_id.encode("utf-8")).digest()[:8], "big")
    return [int(seed), id_hash]


# --- Background shards (``hmh-build backgrounds``), additive to format version 1 -------------
#
# A folder of scene images (e.g. SUN) for test-time composition, sharded like the HMH set:
# BG/manifest.json (format "hmh-backgrounds-manifest"), BG/failures.jsonl and
# BG/backgrounds/backgrounds-00000.h5, each shard holding ``image`` (N, H, W, 3) uint8 RGB
# (one sample per chunk) and ``id`` (N,) UTF-8 (the source path relative to --src,
# "/"-separated, with its extension).

BACKGROUND_FORMAT = "hmh-backgrounds"
BACKGROUND_MANIFEST_FORMAT = "hmh-backgrounds-manifest"
BACKGROUND_SPLIT = "backgrounds"
BACKGROUND_IMAGE_DATASET = "image"
BACKGROUND_REQUIRED_ATTRS = (
    "format",
    "format_version",
    "channel_order",
    "size",
    "builder_version",
    "config_hash",
)


def create_background_datasets(
    h5file: h5py.File, n_samples: int, height: int, width: int, resizable: bool = False
) -> None:
    """Create ``image`` (N, H, W, 3) uint8 and ``id`` (N,) UTF-8 in an open, writable file.

    ``resizable=True``: unlimited first dimension, so a writer can reserve N rows and shrink
    with ``h5file[name].resize(rows, axis=0)``; readers see no difference.
    """
    grow: dict[str, tuple[int | None, ...]] = {"maxshape": (None, height, width, 3)} if resizable else {}
    h5file.create_dataset(
        BACKGROUND_IMAGE_DATASET,
        shape=(n_samples, height, width, 3),
        dtype=np.uint8,
        chunks=(1, height, width, 3),
        **grow,
    )
    grow = {"maxshape": (None,), "chunks": (max(1, min(n_samples, 1024)),)} if resizable else {}
    h5file.create_dataset("id", shape=(n_samples,), dtype=string_dtype(), **grow)


def background_attrs(height: int, width: int, builder_version: str, config_hash: str) -> dict[str, Any]:
    """The file attributes of a background shard."""
    return {
        "format": BACKGROUND_FORMAT,
        "format_version": FORMAT_VERSION,
        "channel_order": CHANNEL_ORDER,
        "size": [int(height), int(width)],
        "builder_version": builder_version,
        "config_hash": config_hash,
    }


def background_shard_filename(index: int) -> str:
    """Relative path of background shard ``index``: ``backgrounds/backgrounds-00000.h5``."""
    return f"{BACKGROUND_SPLIT}/{BACKGROUND_SPLIT}-{index:05d}.h5"


def check_background_shard(h5file: h5py.File) -> list[str]:
    """Problems with an open background shard's schema; [] when valid (file not named)."""
    attrs = h5file.attrs
    problems = [f"attribute {key!r} is missing" for key in BACKGROUND_REQUIRED_ATTRS if key not in attrs]
    if problems:
        return problems
    problems += _header_problems(attrs, BACKGROUND_FORMAT)
    height, width = (int(v) for v in attrs["size"])
    if "id" not in h5file or BACKGROUND_IMAGE_DATASET not in h5file:
        return problems + ["dataset 'id' or 'image' is missing"]
    n_samples = h5file["id"].shape[0]
    image = h5file[BACKGROUND_IMAGE_DATASET]
    if image.shape != (n_samples, height, width, 3):
        problems.append(f"dataset 'image' has shape {image.shape}, expected {(n_samples, height, width, 3)}")
    if image.dtype != np.uint8:
        problems.append(f"dataset 'image' has dtype {image.dtype}, expected uint8")
    if h5file["id"].dtype.kind != "O":
        problems.append(f"dataset 'id' has dtype {h5file['id'].dtype}, expected UTF-8 strings")
    return problems


def background_digest(sample_id: str, image: np.ndarray) -> str:
    """SHA-256 hex digest of one background: its id and its uint8 (H, W, 3) RGB pixels."""
    h = hashlib.sha256()
    _hash_texts(h, (sample_id,))
    array = np.ascontiguousarray(image, dtype=np.uint8)
    h.update(repr(array.shape).encode("ascii"))
    h.update(array.tobytes())
    return h.hexdigest()
