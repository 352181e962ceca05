"""The release's ``README.md`` for harmonization-pair shards (``hmh-build iharmony4``).

Pure, like :mod:`hmh_builder.release.card` (whose ``CardFacts`` and table, licence and file
helpers it uses): the manifest, the metadata statistics (samples per split and subset) and the
release options become Markdown. Nothing is invented: a source licence the releaser did not
give is written as "not stated".
"""

from __future__ import annotations

import json

from hmh_builder.release.card import (
    CardFacts,
    build_config,
    counts_table,
    file_list,
    licences,
    present_splits,
)

SOURCE_NAME = "iHarmony4 dataset (HCOCO, HAdobe5k, HFlickr, Hday2night)"
SOURCE_URL = "https://github.com/bcmi/Image-Harmonization-Dataset-iHarmony4"

LOAD_SNIPPET = """```python
import h5py
with h5py.File("{first}.h5", "r") as f:  # one file per split
    I, I_d, M = (f[k][0] for k in ("I", "I_d", "M"))  # uint8: real RGB, composite RGB, mask
    sample_id, subset = f["id"].asstr()[0], f["subset"].asstr()[0]
```"""


def render_card(facts: CardFacts) -> str:
    """The dataset card as Markdown."""
    m, config = facts.manifest, build_config(facts)
    counts = m.get("counts", {})
    height, width = facts.size
    splits = present_splits(facts, first="train") or ["test"]
    sections = [
        f"# {facts.name} {facts.version}",
        f"Image harmonization pairs from the {SOURCE_NAME}, as harmonization-pair shards of "
        "the HMH toolkit (kind `harmonization`): the real image, the composite whose pasted "
        "region's colours were changed, and the mask of that region.",
        "| fact | value |\n|---|---|\n"
        f"| pairs | {counts.get('written')} ("
        + ", ".join(f"{s} {sum(facts.meta['counts']['splits'].get(s, {}).values())}" for s in splits)
        + ") |\n"
        f"| image size | {height} × {width} (H × W), RGB, uint8 |\n"
        f"| builder | hmh-toolkit {m.get('builder_version')} |\n"
        f"| config hash | `{m.get('config_hash')}` |\n"
        f"| content digest | `{m.get('content_digest')}` |\n"
        f"| licence | {facts.license} |",
        "## Loading\n\n" + LOAD_SNIPPET.replace("{first}", splits[0]) + "\n\nEach split's "
        "`SPLIT.h5` is an HDF5 virtual file over that split's shards in `SPLIT/` (relative "
        "paths: keep the folder together). A virtual file reads zeros where a shard is "
        "missing, so check the folder first with `sha256sum -c SHA256SUMS`. With the toolkit: "
        "`hmh-train harmonization --shards .`",
        "## Motivation\n\nPretraining and evaluating image harmonization networks (the HMH "
        "paper pretrains its harmonizer on iHarmony4; DoveNet's published figures are on its "
        "test lists) from fast, checksummed shards instead of tens of thousands of files.",
        "## Composition\n\nOne sample = one listed composite. Datasets in every shard "
        f"(N pairs, H = {height}, W = {width}):\n\n"
        "| dataset | dtype | shape | meaning |\n|---|---|---|---|\n"
        "| `I` | uint8 | (N, H, W, 3) | real image, RGB |\n"
        "| `I_d` | uint8 | (N, H, W, 3) | composite, RGB |\n"
        "| `M` | uint8 | (N, H, W) | mask of the changed region: 255 changed, 0 not |\n"
        "| `id` | UTF-8 | (N,) | the composite's path as listed (`HCOCO/composite_images/…`) |\n"
        "| `subset` | UTF-8 | (N,) | HCOCO, HAdobe5k, HFlickr or Hday2night |\n\n"
        "Pairs per split and subset:\n\n"
        + counts_table(facts, "pairs", present_splits(facts, first="train")),
        f"## Collection process\n\nNo new images were collected. The pairs are those listed in "
        f"iHarmony4's `IHD_train.txt` / `IHD_test.txt`; the mask and real image of each "
        f"composite are found by DoveNet's naming rule. Of {counts.get('discovered')} listed "
        f"composites, {counts.get('written')} were written and {counts.get('failed')} could not "
        "be used; `failures.jsonl` names each one with the stage and reason.",
        "## Preprocessing\n\n" + _preprocessing(config),
        "## Uses\n\nIntended: research on image harmonization (training, pretraining and "
        "evaluation). Not intended: any use the source licence does not allow.",
        "## Distribution\n\n"
        + licences(
            facts,
            f"Source images and masks ({SOURCE_URL})",
            SOURCE_NAME,
            "Every pair is a resized copy of an iHarmony4 pair, so the source terms apply too.",
        )
        + "\n\n"
        + file_list(splits, "docs/FORMAT.md")
        + " Check: `sha256sum -c SHA256SUMS`; "
        "`hmh-build verify .` recomputes the content digest.",
        f"## Maintenance\n\nVersion {facts.version}. A rebuild from the same source lists, "
        "size and builder version gives the same content digest.",
    ]
    return "\n\n".join(sections) + "\n"


def _preprocessing(config: dict) -> str:
    return (
        "Each composite and real image is opened with PIL, converted to RGB and resized "
        "with PIL's bilinear filter to the output size; the mask is converted to a 1-bit "
        "image and resized by the same call, which Pillow performs as nearest-neighbour "
        "for 1-bit images, so the mask stays exactly 0/255 — DoveNet's "
        "`iharmony4_dataset.py` reading. The split is the list a pair was read from "
        "(train: `IHD_train.txt`, test: `IHD_test.txt`); rows keep the list order.\n\n"
        "Full build config (from `manifest.json`):\n\n```json\n"
        + json.dumps(config, indent=2, sort_keys=True)
        + "\n```"
    )


def description(name: str, manifest: dict) -> str:
    """One-paragraph description for croissant.json."""
    return (
        f"{name}: {manifest.get('counts', {}).get('written')} image harmonization pairs "
        f"(real image, composite, mask of the changed region) from the {SOURCE_NAME}, "
        "as HDF5 shards. See README.md."
    )


def citation(name: str, version: str, manifest: dict) -> str:
    return (
        f"{name} {version}, built with hmh-toolkit {manifest.get('builder_version')} from "
        f"the {SOURCE_NAME} ({SOURCE_URL}); content digest {manifest.get('content_digest')}."
    )
