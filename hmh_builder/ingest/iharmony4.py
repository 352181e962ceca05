"""``hmh-build iharmony4``: the iHarmony4 harmonization set as harmonization-pair shards.

Source layout (as published): ``IHD_ROOT/IHD_train.txt`` and ``IHD_ROOT/IHD_test.txt`` list
composites relative to the root, one per line (``HCOCO/composite_images/c1_1_1.jpg``); the
mask and the real image are found by DoveNet's naming rule (``data/iharmony4_dataset.py``,
applied as ``str.replace`` to the listed line, see ``fsio.iharmony4_partners``):
``HCOCO/masks/c1_1.png`` and ``HCOCO/real_images/c1.jpg``. The subset is the line's first
folder (HCOCO, HAdobe5k, HFlickr, Hday2night).

Each sample is read and resized exactly as DoveNet's loader does (``imageio.decode_pil_resized``):
composite and real image ``PIL.Image.open(...).convert("RGB")`` then PIL bilinear to H×W
(256×256 by default); the mask ``convert("1")`` then the same resize call, which Pillow runs
as nearest-neighbour for 1-bit images, so the stored mask M is exactly 0 or 255 (255 = the
region whose colours were changed). Shards (``docs/FORMAT.md``, kind ``"harmonization"``) hold
I (real), I_d (composite), M, ``id`` (the listed line) and ``subset``, in list order.

The build machinery is the HMH builder's: the same OUT layout (``train/``, ``test/``,
``manifest.json`` written last, ``failures.jsonl``), per-shard completion records and resume
(``build.resume``), local worker processes (``build.distribute``), atomic shard publication.
A missing or undecodable composite, mask or real image, and a malformed or repeated list line,
become one failures.jsonl line each and the rest goes on; a file the operating system cannot
read stops its shard like ``hmh-build`` (exit 1; a rerun resumes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from hmh_builder import __version__, schema
from hmh_builder.fsio import IHARMONY4_LISTS, IHARMONY4_SUBSETS, iharmony4_partners, read_list_lines
from hmh_builder.pipeline.plan import ShardTask, shard_tasks
from hmh_builder.pipeline.sources import failure

LIST_FILES = IHARMONY4_LISTS
RESIZE_RULE = (
    "PIL convert('RGB') + resize(BILINEAR) for composite and real image; "
    "convert('1') + resize for the mask (nearest: Pillow's rule for 1-bit images); "
    "as DoveNet's iharmony4_dataset.py"
)


class IHarmony4Error(ValueError):
    """The source cannot be used at all; one line naming the path."""


@dataclass(frozen=True)
class IHarmony4Config:
    """What decides the content of an iHarmony4 build (recorded and hashed in the manifest).

    ``source``: absolute IHD_ROOT. ``size``: (H, W). ``splits``: the list files read, a
    subset of ("train", "test"). ``shard_size``: samples per shard.
    """

    source: str
    size: tuple = (256, 256)
    splits: tuple = ("train", "test")
    shard_size: int = 1000

    def to_dict(self) -> dict:
        return {
            "dataset": "iharmony4",
            "source": self.source,
            "size": list(self.size),
            "splits": list(self.splits),
            "shard_size": self.shard_size,
            "resize": RESIZE_RULE,
            "kind": schema.KIND_PAIRS,
            "builder_version": __version__,
            "format_version": schema.FORMAT_VERSION,
        }

    def hash(self) -> str:
        return schema.config_hash(self.to_dict())


@dataclass(frozen=True)
class PairEntry:
    """One listed composite: ``id`` (the line), its subset and the three paths (relative)."""

    id: str
    subset: str
    composite: str
    mask: str
    real: str

    def plan_row(self) -> list:
        """What this pair is planned to be (id and paths), for ``ShardTask.digest``."""
        return [self.id, self.subset, self.composite, self.mask, self.real]


def read_list(root: str, split: str, seen: dict) -> tuple[list, list]:
    """(entries, failures) of ``root/IHD_<split>.txt`` in list order.

    Lines are stripped at the right (as DoveNet does); blank lines are skipped. A line that
    does not follow the naming rule, or repeats a line already listed (``seen``: line → where,
    shared across splits), becomes a failure whose id is ``<list file>:<line number>``.
    Raises IHarmony4Error when the list file cannot be read.
    """
    name = LIST_FILES[split]
    path = os.path.join(root, name)
    try:
        lines = read_list_lines(path)
    except FileNotFoundError:
        raise IHarmony4Error(
            f"{path}: no such file (is {root} an iHarmony4 root holding {' and '.join(LIST_FILES.values())}?)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IHarmony4Error(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    entries, failures = [], []
    for number, line in lines:
        where = f"{name}:{number}"
        if line in seen:
            failures.append(
                failure(
                    where,
                    name,
                    "pair",
                    f"{where} repeats {line} (first listed at {seen[line]}); the repeat is ignored",
                )
            )
            continue
        seen[line] = where
        try:
            mask, real = iharmony4_partners(line)
        except ValueError as exc:
            failures.append(failure(where, name, "pair", f"{where}: {exc}"))
            continue
        subset = line.split("/", 1)[0] if "/" in line else ""
        entries.append(PairEntry(line, subset, line, mask, real))
    return entries, failures


def discover(config: IHarmony4Config) -> tuple[dict, list]:
    """({split: [PairEntry, ...]}, list-level failures) for the configured splits."""
    if not os.path.isdir(config.source):
        raise IHarmony4Error(f"{config.source}: no such folder")
    seen, by_split, failures = {}, {}, []
    for split in schema.SPLITS:
        if split in config.splits:
            by_split[split], bad = read_list(config.source, split, seen)
            failures += bad
    return by_split, failures


def plan_tasks(by_split: dict, shard_size: int) -> list[ShardTask]:
    """Shard tasks (``build.plan.ShardTask`` of PairEntry), train first, each split cut in
    list order into chunks of ``shard_size``."""
    return [
        task for split in schema.SPLITS for task in shard_tasks(split, by_split.get(split, []), shard_size)
    ]


def subset_counts(ids_by_split: dict) -> dict:
    """{subset: {split: samples}} from sample ids (the subset is an id's first folder)."""
    counts = {}
    for split, ids in ids_by_split.items():
        for sample_id in ids:
            subset = sample_id.split("/", 1)[0]
            per = counts.setdefault(subset, {s: 0 for s in schema.SPLITS})
            per[split] += 1
    order = {name: k for k, name in enumerate(IHARMONY4_SUBSETS)}
    return dict(sorted(counts.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))
