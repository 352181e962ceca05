"""The release's ``README.md``: a dataset card with datasheet sections, filled from facts.

Pure: ``render_card(facts)`` turns the manifest, the metadata statistics and the release
options into Markdown; nothing here reads files or invents a fact (a licence that the
releaser did not give is written as "not stated").
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from hmh_builder import schema

SOURCE_NAME = "AISegment Matting Human Datasets"
SOURCE_URL = "https://github.com/aisegmentcn/matting_human_datasets"

LOAD_SNIPPET = """```python
import h5py, json
with h5py.File("{first}.h5", "r") as f:{comment}
    I, A, F, B, I_d = (f[k][0] for k in ("I", "A", "F", "B", "I_d"))  # uint8 RGB / matte
    sample_id, transform = f["id"].asstr()[0], f["transform"].asstr()[0]
    params = json.loads(f["params"].asstr()[0])
```"""


def present_splits(facts: CardFacts, first: str = "test") -> list:
    """Splits with at least one sample, ``first`` first (the HMH card's loading example
    opens the test split), then by name."""
    present = [s for s, per in facts.meta["counts"]["splits"].items() if sum(per.values())]
    return sorted(present, key=lambda s: (s != first, s))


def _load_snippet(facts: CardFacts) -> str:
    splits = present_splits(facts) or ["test"]
    others = " or ".join(f'"{s}.h5"' for s in splits[1:])
    comment = f"  # or {others}; one file per split" if others else "  # one file per split"
    return LOAD_SNIPPET.replace("{first}", splits[0]).replace("{comment}", comment)


def file_list(splits: list, format_doc: str = "FORMAT.md") -> str:
    """The release's files, shards and virtual files of ``splits`` in that order."""
    return (
        "Files: "
        + ", ".join(f"`{s}/*.h5`" for s in splits)
        + f" (shards, {format_doc} v1), "
        + ", ".join(f"`{s}.h5`" for s in splits)
        + " (virtual files), `manifest.json`, "
        "`failures.jsonl`, `croissant.json` (Croissant 1.1), `preview.png`, `SHA256SUMS`."
    )


@dataclass(frozen=True)
class CardFacts:
    """Everything the card states. ``meta`` is :func:`hmh_builder.inspect.stats.metadata_stats`."""

    name: str
    version: str
    license: str
    source_license: str | None
    manifest: dict
    meta: dict
    size: tuple  # (H, W)


def build_config(facts: CardFacts) -> dict:
    """The manifest's build config ({} when it records none)."""
    config = facts.manifest.get("config")
    return config if isinstance(config, dict) else {}


def _altered(facts: CardFacts) -> str:
    """The side the build altered (``config.altered``; background when not recorded)."""
    return schema.manifest_altered(facts.manifest)


#: Per altered side: what the intro says changed, the I_d row's formula, and the rule line.
SIDE_TEXT = {
    "background": (
        "background colours were changed by one transfer",
        "composite A·I + (1−A)·B_t, B_t = adjusted B; exactly I where A = 255",
        "applied to the background only (B → B_t), then recomposited through the matte",
    ),
    "foreground": (
        "person's colours were changed by one transfer (the paper's foreground variant, Fig. 6)",
        "composite A·F_t + (1−A)·B, F_t = the portrait with adjusted colours; exactly I where A = 0",
        "applied to the portrait (I → F_t) and kept only where the person is, then "
        "composited over the unchanged background B through the matte",
    ),
}


def _split_total(facts: CardFacts, split: str) -> int:
    return sum(facts.meta["counts"]["splits"].get(split, {}).values())


def counts_table(facts: CardFacts, what: str, rows: list) -> str:
    """Markdown table of the metadata counts: one row per split of ``rows`` (``what`` per
    split, then one column per category counted: transforms, or subsets for pairs)."""
    splits = facts.meta["counts"]["splits"]
    columns = sorted({t for per in splits.values() for t in per})
    lines = [f"| split | {what} | " + " | ".join(columns) + " |", "|---|---:|" + "---:|" * len(columns)]
    for split in rows:
        per = splits[split]
        lines.append(
            f"| {split} | {sum(per.values())} | " + " | ".join(str(per.get(t, 0)) for t in columns) + " |"
        )
    return "\n".join(lines)


def _params_table(facts: CardFacts) -> str:
    rows = [
        f"| {t} | `{k}` | {s['min']:.4g} | {s['max']:.4g} | {s['mean']:.4g} |"
        for t, keys in facts.meta["params"].items()
        for k, s in keys.items()
        if s["count"]
    ]
    table = (
        "\n".join(["| transform | parameter | min | max | mean |", "|---|---|---:|---:|---:|"] + rows)
        if rows
        else "No numeric transform parameters were recorded."
    )
    notes = [
        f"- {t} `{k}`: {v['distinct']} distinct values over {v['count']} samples"
        + (f" ({v['equal_to_own_id']} equal to the sample's own id)" if k == "target" else "")
        for t, keys in facts.meta.get("text_params", {}).items()
        for k, v in keys.items()
    ]
    return table + ("\n\nText parameters:\n\n" + "\n".join(notes) if notes else "")


def licences(facts: CardFacts, source: str, source_name: str, note: str) -> str:
    """The licence bullets: this release's, then the ``source``'s (labelled as given; "not
    stated" and a pointer to the ``source_name``'s terms when the releaser gave none), then
    ``note``."""
    terms = facts.source_license or (
        f"not stated by the releaser — read the terms of the {source_name} before any use"
    )
    return (
        f"- **This release:** {facts.license} (as stated by the releaser).\n- **{source}:** {terms}.\n{note}"
    )


def render_card(facts: CardFacts) -> str:
    """The dataset card as Markdown."""
    m, config = facts.manifest, build_config(facts)
    counts = m.get("counts", {})
    height, width = facts.size
    sections = [
        f"# {facts.name} {facts.version}",
        "Human Matting and Harmonization (HMH) dataset: real portraits with their alpha matte, "
        "premultiplied foreground, estimated background and a disharmonious composite whose "
        f"{SIDE_TEXT[_altered(facts)][0]} (Reinhard colour transfer, "
        "illumination change or saturation/colour enhancement).",
        "| fact | value |\n|---|---|\n"
        f"| samples | {counts.get('written')} (train {_split_total(facts, 'train')}, "
        f"test {_split_total(facts, 'test')}) |\n"
        f"| image size | {height} × {width} (H × W), RGB, uint8 |\n"
        f"| altered side | {_altered(facts)} (shard attribute and config `altered`) |\n"
        f"| builder | hmh-toolkit {m.get('builder_version')} |\n"
        f"| config hash | `{m.get('config_hash') or config.get('config_hash')}` |\n"
        f"| content digest | `{m.get('content_digest')}` |\n"
        f"| licence | {facts.license} |",
        "## Loading\n\n"
        + _load_snippet(facts)
        + "\n\nEach split's `SPLIT.h5` (here: "
        + ", ".join(f"`{s}.h5`" for s in present_splits(facts))
        + ") is an HDF5 virtual file over "
        "that split's shards in `SPLIT/` (relative paths: keep the "
        "folder together). A virtual file reads zeros where a shard is missing, so check the "
        "folder first with `sha256sum -c SHA256SUMS`.",
        "## Motivation\n\nTraining and evaluating image matting and image harmonization "
        "jointly needs, for each portrait, the real image, its matte, the background under "
        "the person and a composite whose "
        + (
            "person does not match the background"
            if _altered(facts) == "foreground"
            else "background does not match the person"
        )
        + ". This set "
        "provides them, following *A Generative Adversarial Framework for Optimizing Image "
        "Matting and Harmonization Simultaneously*.",
        _composition(facts),
        f"## Collection process\n\nNo new images were collected. Every sample comes from one "
        f"portrait and its matte of the {SOURCE_NAME} ({SOURCE_URL}). Of "
        f"{counts.get('discovered')} source inputs found, {counts.get('written')} were "
        f"written and {counts.get('failed')} could not be used; `failures.jsonl` names each "
        "one with the stage and reason.",
        _preprocessing(facts, config),
        "## Uses\n\nIntended: research on portrait matting, image harmonization and "
        "composition, and their evaluation. Not intended: identifying, profiling or tracking "
        "the people shown, or any use the source licence does not allow. The demographics "
        "of the source portraits have not been audited for this card; models trained on it "
        "may not generalise beyond the people, poses and settings it shows.",
        "## Distribution\n\n"
        + licences(
            facts,
            f"Source images and mattes ({SOURCE_NAME}, {SOURCE_URL})",
            SOURCE_NAME,
            "Every sample is derived from a source portrait, so the source terms apply too.",
        )
        + "\n\n"
        + file_list(present_splits(facts, first="train"))
        + "\n\n"
        "Check: `sha256sum -c SHA256SUMS`; `mlcroissant validate --jsonld croissant.json`; "
        "with the toolkit, `hmh-build verify .` recomputes the content digest.",
        f"## Maintenance\n\nVersion {facts.version}. The content digest identifies the "
        "samples independently of file layout: a rebuild with the same source, config and "
        "builder version gives the same digest. Corrections are released as a new version "
        "with a new digest; the manifest records the full build config.",
    ]
    return "\n\n".join(sections) + "\n"


def _composition(facts: CardFacts) -> str:
    height, width = facts.size
    return (
        "## Composition\n\nOne sample = one source portrait. Datasets in every shard "
        f"(N samples, H = {height}, W = {width}):\n\n"
        "| dataset | dtype | shape | meaning |\n|---|---|---|---|\n"
        "| `I` | uint8 | (N, H, W, 3) | real image, RGB |\n"
        "| `A` | uint8 | (N, H, W) | alpha matte, 0 background … 255 foreground |\n"
        "| `F` | uint8 | (N, H, W, 3) | foreground A·I/255, RGB |\n"
        "| `B` | uint8 | (N, H, W, 3) | estimated background under the person, RGB |\n"
        f"| `I_d` | uint8 | (N, H, W, 3) | {SIDE_TEXT[_altered(facts)][1]} |\n"
        "| `id`, `transform`, `params` | UTF-8 | (N,) | source id, transfer name, JSON "
        "parameters |\n\nSamples per split and transform:\n\n"
        + counts_table(
            facts, "samples", sorted(facts.meta["counts"]["splits"], key=lambda s: (s != "train", s))
        )
        + "\n\nHow each sample's transfer was drawn (from the build config):\n\n"
        + _transfer_rules(build_config(facts), _altered(facts))
        + "\n\nNumeric transform parameters (observed):\n\n"
        + _params_table(facts)
    )


def _span(config: dict, key: str) -> str:
    low, high = config.get(key, ("?", "?"))
    return (
        f"[{low:g}, {high:g}]"
        if all(isinstance(v, (int, float)) for v in (low, high))
        else f"[{low}, {high}]"
    )


def _transfer_rules(config: dict, altered: str = schema.DEFAULT_ALTERED) -> str:
    """Bullets: probability and parameter distribution of each transfer, as configured."""
    adjust = config.get("adjust")
    if not isinstance(adjust, dict):
        return "The build config does not record the transfer settings."
    p = {t: adjust.get(f"p_{t}") for t in ("reinhard", "illumination", "saturation")}
    prob = ", ".join(
        f"{t} {v:.3g}" if isinstance(v, (int, float)) else f"{t} not recorded" for t, v in p.items()
    )
    if adjust.get("illumination_style") == "offset":
        illumination = (
            "one offset drawn uniformly in "
            + _span(adjust, "illumination_offset")
            + " (0–255 units) added to every channel (`offset`)"
        )
    else:
        illumination = "exposure change: gain 2^EV (`gain`) with EV (`stops`) drawn uniformly in " + _span(
            adjust, "exposure_stops"
        )
    if adjust.get("saturation_style") == "msrcr":
        saturation = (
            f"MSRCR colour enhancement, sigmas {adjust.get('msrcr_sigmas')} px at "
            f"{adjust.get('msrcr_reference_size')} px image height, "
            + ("quantile stretch" if adjust.get("msrcr_stretch", True) else "hard clip")
        )
    else:
        saturation = "CIELAB a*/b* scaled by a factor (`factor`) drawn log-uniformly in " + _span(
            adjust, "saturation_factor"
        )
    if altered == "foreground":
        reinhard = (
            "the person (CIELAB mean and standard deviation of I weighted by A) matched "
            "to those of another source portrait's person (its image weighted by its own "
            "matte, at the output size)"
        )
    else:
        reinhard = (
            "background matched to the CIELAB mean and standard deviation of another "
            "source portrait (the whole image at the output size)"
        )
    return (
        f"- probabilities: {prob}\n"
        f"- reinhard: {reinhard}, drawn uniformly from all the "
        "others, of either split (`target`)\n"
        f"- illumination: {illumination}\n- saturation: {saturation}"
    )


def _preprocessing(facts: CardFacts, config: dict) -> str:
    height, width = facts.size
    recipe = (
        f"`{config['recipe']}`, resolved into the config below"
        if config.get("recipe")
        else "the resolved settings below (a recipe file's values are folded into them)"
    )
    fraction = config.get("test_fraction", "not recorded")
    method = (
        f"{config.get('background', 'method not recorded')}, at "
        f"{config.get('background_resolution', 'unrecorded')} resolution"
    )
    return (
        f"## Preprocessing\n\nEach portrait and matte are resized to {height} × {width}; the "
        f"background under the person is estimated ({method}), one transfer is drawn per "
        f"sample and {SIDE_TEXT[_altered(facts)][2]}. Every "
        f"random choice is seeded from the build seed ({config.get('seed', 'not recorded')}) and "
        f"the sample id. Recipe: {recipe}.\n\nSplit rule: a sample is in *test* when the "
        "first 8 bytes of SHA-256(id), read as a fraction of 2^64, are below the test "
        f"fraction ({fraction}); it does not depend on order or worker count.\n\n"
        "Full build config (from `manifest.json`):\n\n```json\n"
        + json.dumps(config, indent=2, sort_keys=True)
        + "\n```"
    )


def description(name: str, manifest: dict) -> str:
    """One-paragraph description for croissant.json."""
    side = schema.manifest_altered(manifest)
    return (
        f"{name}: Human Matting and Harmonization (HMH) dataset, "
        f"{manifest.get('counts', {}).get('written')} portraits from the {SOURCE_NAME} with "
        "alpha matte, foreground, estimated background and a colour-disharmonious composite "
        f"whose {side} was altered, as HDF5 shards. See README.md."
    )


def citation(name: str, version: str, manifest: dict) -> str:
    return (
        f"{name} {version}, built with hmh-toolkit {manifest.get('builder_version')} from "
        f"the {SOURCE_NAME} ({SOURCE_URL}); content digest {manifest.get('content_digest')}."
    )
