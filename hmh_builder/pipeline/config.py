"""Build settings: frozen dataclasses, recipe files, validation and the config hash.

Precedence: built-in defaults < recipe file (``--recipe``) < command-line options. The
resolved :class:`BuildConfig` is what ``manifest.json`` records under ``config``; everything
that can change a shard's content is in it. How the build runs (workers, backend, output
folder) lives in :class:`RunOptions` and never enters the config hash.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hmh_builder import schema
from hmh_builder.imageio import DEFAULT_MAX_PIXELS
from hmh_builder.kernels.adjust import DEFAULT_ADJUST, AdjustSettings
from hmh_builder.kernels.background import BACKGROUND_METHODS

#: Where background estimation runs: on the decoded source image (the paper: Telea at full
#: resolution) or after resizing to the output size. Telea is less accurate after shrinking
#: (REFERENCE §2); multilevel is both faster and *more* accurate at the output size on JPEG
#: sources (benchmarks/build.py: 38.5 dB vs 37.6 dB, ~3x faster), because it then no longer
#: follows JPEG's half-resolution chroma errors around hair.
BACKGROUND_RESOLUTIONS = ("source", "output")
#: Resolution each method uses when none is given (``auto``).
DEFAULT_BACKGROUND_RESOLUTION = {"telea": "source", "multilevel": "output"}
#: A shard of ``auto`` size holds at most about this many bytes of image data ...
SHARD_TARGET_BYTES = 1 << 30
#: ... and a build of ``auto`` size has at least this many shards (when it has that many
#: samples), so up to this many workers stay busy. Depends on the data only, never on workers.
AUTO_MIN_SHARDS = 64


def _recipe_dir() -> Path:
    """``manifests/`` of a source checkout (editable install), else the copy a wheel installs
    under ``<prefix>/share/hmh-toolkit/manifests`` (setup.cfg data_files)."""
    checkout = Path(__file__).resolve().parents[2] / "manifests"
    installed = Path(sys.prefix) / "share" / "hmh-toolkit" / "manifests"
    return checkout if checkout.is_dir() or not installed.is_dir() else installed


RECIPE_DIR = _recipe_dir()
RECIPE_KEYS = (
    "size",
    "background",
    "background_resolution",
    "seed",
    "test_fraction",
    "shard_size",
    "store_b_t",
    "adjust",
    "altered",
    "max_pixels",
)


class ConfigError(ValueError):
    """A setting or recipe is unusable; the message is one sentence for the user."""


@dataclass(frozen=True)
class BuildConfig:
    """Everything that decides the content of a build (recorded in the manifest).

    Attributes:
        source: absolute path of the source folder.
        size: output (height, width), or None for ``native`` (resolved when the build starts).
        background: background method, one of BACKGROUND_METHODS.
        background_resolution: "source" or "output" (see BACKGROUND_RESOLUTIONS); "auto"
            resolves to DEFAULT_BACKGROUND_RESOLUTION[background] when the config is made.
        seed: base seed; sample k uses ``default_rng(schema.sample_seed(seed, id))``.
        test_fraction: share of ids in the test split (schema.split_of).
        shard_size: samples per shard, or 0 for auto (see samples_per_shard).
        store_b_t: also store the adjusted background B_t in every shard.
        adjust: adjustment probabilities, ranges and styles.
        altered: the side the adjustment changes (schema.ALTERED_SIDES): "background"
            (the paper's main setting, I_d = A·I + (1−A)·B_t) or "foreground" (I_d =
            A·F_t + (1−A)·B, F_t the adjusted portrait; I_d = I where A = 0).
        max_pixels: an image or matte whose header claims more pixels fails (stage "decode")
            without being decoded.
    """

    source: str
    size: tuple | None = (256, 256)
    background: str = "multilevel"
    background_resolution: str = "auto"
    seed: int = 0
    test_fraction: float = 0.1
    shard_size: int = 0
    store_b_t: bool = False
    adjust: AdjustSettings = field(default_factory=lambda: DEFAULT_ADJUST)
    altered: str = schema.DEFAULT_ALTERED
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self):
        if self.background_resolution == "auto":
            resolved = DEFAULT_BACKGROUND_RESOLUTION.get(self.background, "source")
            object.__setattr__(self, "background_resolution", resolved)
        _validate(self)

    def to_dict(self) -> dict:
        """JSON-friendly dict as recorded in ``manifest.json`` (``size`` as [H, W] or "native")."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["size"] = list(self.size) if self.size is not None else "native"
        data["adjust"] = self.adjust.to_dict()
        data["builder_version"] = _builder_version()
        data["format_version"] = schema.FORMAT_VERSION
        return data

    def hash(self) -> str:
        return schema.config_hash(self.to_dict())

    def samples_per_shard(self, height: int, width: int, n_samples: int) -> int:
        """Resolved shard size for ``n_samples`` H×W samples: ``shard_size``, or when auto
        the smaller of ≈1 GiB of images and ``ceil(n_samples / AUTO_MIN_SHARDS)``."""
        if self.shard_size:
            return self.shard_size
        per_sample = height * width * (3 * (5 if self.store_b_t else 4) + 1)
        by_bytes = max(1, SHARD_TARGET_BYTES // per_sample)
        return max(1, min(by_bytes, -(-n_samples // AUTO_MIN_SHARDS)))


@dataclass(frozen=True)
class RunOptions:
    """How a build runs; none of it changes the content.

    Attributes:
        out: output folder. workers: local worker processes (or dask/joblib n_jobs).
        backend: "local" (joblib loky processes) or "dask". scheduler: dask scheduler address.
        max_failures: this many failed inputs still exit 0 (None: any failure exits 3).
        overwrite: delete an existing build in ``out`` built with another config.
        progress: show a progress bar on stderr.
    """

    out: str
    workers: int = 1
    backend: str = "local"
    scheduler: str | None = None
    max_failures: int | None = None
    overwrite: bool = False
    progress: bool = False


def _builder_version() -> str:
    from hmh_builder import __version__

    return __version__


def _validate(c: BuildConfig) -> None:
    if c.size is not None and (len(c.size) != 2 or any(int(v) < 8 or int(v) > 8192 for v in c.size)):
        raise ConfigError(f"size must be between 8 and 8192 pixels per side, got {c.size}")
    if c.background not in BACKGROUND_METHODS:
        raise ConfigError(f"background must be one of {', '.join(BACKGROUND_METHODS)}, got {c.background!r}")
    if c.background_resolution not in BACKGROUND_RESOLUTIONS:
        raise ConfigError(
            f"background_resolution must be one of {', '.join(BACKGROUND_RESOLUTIONS)}, "
            f"got {c.background_resolution!r}"
        )
    if not isinstance(c.seed, int) or isinstance(c.seed, bool) or c.seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {c.seed!r}")
    if (
        not isinstance(c.test_fraction, (int, float))
        or not 0.0 <= c.test_fraction <= 1.0
        or not math.isfinite(c.test_fraction)
    ):
        raise ConfigError(f"test_fraction must be a number in [0, 1], got {c.test_fraction!r}")
    if not isinstance(c.shard_size, int) or isinstance(c.shard_size, bool) or c.shard_size < 0:
        raise ConfigError(f"shard_size must be an integer >= 1 (or auto), got {c.shard_size!r}")
    if not isinstance(c.max_pixels, int) or isinstance(c.max_pixels, bool) or c.max_pixels < 1:
        raise ConfigError(f"max_pixels must be an integer >= 1, got {c.max_pixels!r}")
    if not isinstance(c.store_b_t, bool):
        raise ConfigError(f"store_b_t must be true or false, got {c.store_b_t!r}")
    if c.altered not in schema.ALTERED_SIDES:
        raise ConfigError(f"altered must be one of {', '.join(schema.ALTERED_SIDES)}, got {c.altered!r}")
    if c.store_b_t and c.altered == "foreground":
        raise ConfigError(
            "store_b_t stores the adjusted background B_t, which a foreground-altered "
            "build does not have (its B is unchanged); drop --store-b-t or use "
            "--altered background"
        )


def parse_size(text) -> tuple | None:
    """``"256"`` → (256, 256); ``"320x240"`` → (320, 240) as (H, W); ``"native"`` → None."""
    if isinstance(text, int) and not isinstance(text, bool):
        return (text, text)
    if isinstance(text, (list, tuple)) and len(text) == 2:
        return (int(text[0]), int(text[1]))
    value = str(text).strip().lower()
    if value == "native":
        return None
    match = re.fullmatch(r"(\d+)(?:x(\d+))?", value)
    if not match:
        raise ConfigError(f"size must be N, HxW or native, got {text!r}")
    height = int(match.group(1))
    return (height, int(match.group(2) or height))


def parse_shard_size(text) -> int:
    """``"auto"`` → 0; a positive integer → itself."""
    if str(text).strip().lower() == "auto":
        return 0
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise ConfigError(f"shard size must be a positive integer or auto, got {text!r}") from None
    if value < 1:
        raise ConfigError(f"shard size must be a positive integer or auto, got {text!r}")
    return value


def recipe_path(name: str) -> Path:
    """A recipe file: an existing path, or a name in manifests/ (``paper``, ``default``)."""
    path = Path(name)
    if path.is_file():
        return path
    named = RECIPE_DIR / f"{name}.json"
    if named.is_file():
        return named
    raise ConfigError(
        f"recipe {name!r} is neither a file nor one of: "
        f"{', '.join(sorted(p.stem for p in RECIPE_DIR.glob('*.json') if p.stem != 'manifest.schema'))}"
    )


def load_recipe(name: str) -> dict:
    """Read a recipe JSON file into a dict of config settings (keys of RECIPE_KEYS)."""
    path = recipe_path(name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.__class__.__name__})") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a recipe must be a JSON object")
    settings = {k: v for k, v in data.items() if not k.startswith("_") and k != "description"}
    unknown = sorted(set(settings) - set(RECIPE_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(RECIPE_KEYS)}")
    return settings


def resolve_config(source, recipe: str | None = None, **overrides) -> BuildConfig:
    """Defaults < recipe < overrides (None values in overrides are ignored)."""
    settings = load_recipe(recipe) if recipe else {}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    kwargs = {"source": os.path.abspath(os.fspath(source))}
    try:
        if "size" in settings:
            kwargs["size"] = parse_size(settings["size"])
        if "shard_size" in settings:
            kwargs["shard_size"] = parse_shard_size(settings["shard_size"])
        if "adjust" in settings:
            adjust = settings["adjust"]
            kwargs["adjust"] = (
                adjust if isinstance(adjust, AdjustSettings) else AdjustSettings.from_dict(adjust)
            )
        for key in (
            "background",
            "background_resolution",
            "seed",
            "test_fraction",
            "store_b_t",
            "altered",
            "max_pixels",
        ):
            if key in settings:
                kwargs[key] = settings[key]
        return BuildConfig(**kwargs)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(str(exc)) from None
