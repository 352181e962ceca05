"""``hmh-train study make``: pick test samples with a seed, render every method's harmonized
picture of each, and write a blinded study folder (``hmh_train.study.folder``).

Methods: ``I_d`` (the unharmonized composite from the shards, the reference), optionally ``I``
(the real photograph, ``--include-real``), one per ``--ckpt`` (its harmonization net on I_d
with the true alpha and the mask of the side the shards alter, as ``hmh-train eval`` feeds it,
in the output form its run trained with or ``--harmonizer-output``; a harmonizer trained on the
other side is refused unless ``--allow-other-side``) and one per sub-folder of ``--images``
(ready-made outputs of other methods, ``<sample id>.png|jpg|…``, same size as the shards).
On harmonization-pair shards (``hmh-build iharmony4``) a checkpoint gets the stored composite
and the stored mask of the changed region, as ``hmh-train eval`` feeds it there.
Every picture is written as an RGB PNG under an opaque item id (drawn from the seed and a
digest of the pictures, see :func:`id_generator`), so neither the file name, the format nor the
URL tells a rater which method made it.

Same shards, checkpoints, images and seed ⇒ the same study folder, byte for byte.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass

import numpy as np

from hmh_builder.fsio import atomic_write_text
from hmh_train.nets.forward import check_output_form
from hmh_train.study import folder as F

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


@dataclass(frozen=True)
class MakeConfig:
    """Settings of ``hmh-train study make`` (see its ``--help``)."""

    out: str
    shards: str
    ckpts: tuple = ()  # run folders or checkpoint files, one method each
    images: str | None = None  # folder of ready-made outputs, one sub-folder per method
    n: int = 40
    seed: int = 0
    split: str = "test"
    include_real: bool = False
    harmonizer_output: str | None = None  # output form of every checkpoint; None = each run's own
    batch_size: int = 8
    device: str = "auto"
    overwrite: bool = False
    allow_other_side: bool = False  # render a harmonizer trained on the other side anyway
    progress: bool = True


def pick_samples(dataset, n: int, seed: int) -> list[int]:
    """``n`` distinct dataset indices drawn with ``default_rng([seed, 0])``, ascending."""
    if n > len(dataset):
        raise F.StudyError(
            f"{dataset.root}: asked for {n} samples but the {dataset.split} split has only {len(dataset)}"
        )
    rng = np.random.default_rng([int(seed), 0])
    return sorted(int(i) for i in rng.choice(len(dataset), size=n, replace=False))


def read_samples(dataset, indices) -> dict:
    """{"id": [str], "I", "I_d": uint8 (N,H,W,3) RGB, "altered": the side the shards alter}
    of the chosen samples, plus "A": uint8 (N,H,W) for HMH shards, or for harmonization-pair
    shards (``hmh-build iharmony4``; "altered" None) "M": uint8 (N,H,W), the stored mask of
    the changed region."""
    from hmh_train.data.shards import altered_side

    rows = [dataset[i] for i in indices]
    side = altered_side(dataset)
    guide = "A" if side is not None else "M"
    return {
        "id": [str(r["id"]) for r in rows],
        "altered": side,
        "I": np.stack([r["I"].permute(1, 2, 0).numpy() for r in rows]),
        "I_d": np.stack([r["I_d"].permute(1, 2, 0).numpy() for r in rows]),
        guide: np.stack([r[guide][0].numpy() for r in rows]),
    }


def render_checkpoint(path: str, samples: dict, cfg: MakeConfig, bar) -> tuple[np.ndarray, str]:
    """(uint8 (N,H,W,3) RGB, output form): the harmonization net of ``path`` on every sample's
    I_d, in the form its run trained with or ``cfg.harmonizer_output``."""
    from hmh_train.infer.model import load
    from hmh_train.train.checkpoint import check_side
    from hmh_train.train.distributed import pick_device

    model = load(path, device=pick_device(cfg.device))
    if model.nets.harmonization is None:
        raise F.StudyError(f"{path}: the checkpoint holds no harmonization net")
    check_side(path, model.config, model.nets, cfg.shards, samples["altered"], cfg.allow_other_side)
    form = check_output_form(cfg.harmonizer_output, model.harmonizer_output, path)
    out = []
    for start in range(0, len(samples["id"]), cfg.batch_size):
        part = slice(start, start + cfg.batch_size)
        if samples["altered"] is None:  # harmonization pairs: the stored mask, as eval
            guide = {"mask": samples["M"][part]}
        else:  # HMH: the mask of the altered side from the true alpha
            guide = {"alpha": samples["A"][part], "side": samples["altered"]}
        out.append(model.harmonize_batch(samples["I_d"][part], **guide, output=form))
        bar.update(out[-1].shape[0])
    del model
    return np.concatenate(out), form


def find_image(method_dir: str, sample_id: str) -> str | None:
    for ext in IMAGE_EXTENSIONS:
        for candidate in (sample_id + ext, sample_id + ext.upper()):
            if os.path.isfile(os.path.join(method_dir, candidate)):
                return os.path.join(method_dir, candidate)
    return None


def read_method_images(method_dir: str, samples: dict) -> np.ndarray:
    """uint8 (N,H,W,3) RGB: ``method_dir/<sample id>.<ext>`` for every sample; StudyError
    naming the missing or mis-sized files."""
    from hmh_builder.imageio import decode_image

    paths = [find_image(method_dir, sid) for sid in samples["id"]]
    missing = [sid for sid, p in zip(samples["id"], paths, strict=False) if p is None]
    if missing:
        raise F.StudyError(
            f"{method_dir}: no image for {len(missing)} of {len(paths)} samples "
            f"(first: {missing[0]}.png; expected <sample id>.png|jpg|jpeg|webp|bmp)"
        )
    size = samples["I_d"].shape[1:3]
    images = []
    for path in paths:
        image = decode_image(path)
        if image.shape[:2] != size:
            raise F.StudyError(
                f"{path}: {image.shape[1]}×{image.shape[0]} pixels, but the shards' "
                f"pictures are {size[1]}×{size[0]}; resize the outputs first"
            )
        images.append(image)
    return np.stack(images)


def list_methods(cfg: MakeConfig) -> list[tuple[str, str, str]]:
    """``(name, kind, source)`` per method in table order; StudyError on clashing names."""
    methods = [(F.COMPOSITE_METHOD, "composite", "I_d from the shards")]
    if cfg.include_real:
        methods.append((F.REAL_METHOD, "real", "I from the shards"))
    for path in cfg.ckpts:
        if not os.path.exists(path):
            raise F.StudyError(f"{path}: no such run folder or checkpoint file")
        methods.append((F.method_name(path), "checkpoint", os.fspath(path)))
    if cfg.images is not None:
        if not os.path.isdir(cfg.images):
            raise F.StudyError(f"{cfg.images}: no such folder (--images expects one sub-folder per method)")
        subs = sorted(
            d
            for d in os.listdir(cfg.images)
            if os.path.isdir(os.path.join(cfg.images, d)) and not d.startswith(".")
        )
        if not subs:
            raise F.StudyError(f"{cfg.images}: no method sub-folders")
        methods += [(d, "images", os.path.join(cfg.images, d)) for d in subs]
    seen = set()
    for name, _, source in methods:
        if name in seen:
            raise F.StudyError(
                f"{source}: a second method named {name!r}; method names come from run "
                "folder or checkpoint file names and must differ"
            )
        seen.add(name)
    if len(methods) < 2:
        raise F.StudyError(
            "a study needs at least one method besides I_d (--ckpt, --images or --include-real)"
        )
    return methods


def render_all(methods, samples: dict, cfg: MakeConfig) -> tuple[dict, dict]:
    """({method name: uint8 (N,H,W,3) RGB} for every method, {checkpoint method: the
    harmonizer output form it was rendered with})."""
    from tqdm import tqdm

    pictures, forms = {}, {}
    total = len(samples["id"]) * sum(kind == "checkpoint" for _, kind, _ in methods)
    with tqdm(total=total, desc="render", unit="image", disable=not cfg.progress or not total) as bar:
        for name, kind, source in methods:
            if kind == "composite":
                pictures[name] = samples["I_d"]
            elif kind == "real":
                pictures[name] = samples["I"]
            elif kind == "checkpoint":
                pictures[name], forms[name] = render_checkpoint(source, samples, cfg, bar)
            else:
                pictures[name] = read_method_images(source, samples)
    return pictures, forms


def id_generator(seed: int, pairs, pictures: dict, index: dict) -> np.random.Generator:
    """The generator the item ids are drawn from: ``default_rng([seed, 1, *SHA-256 words])``
    over every (sample id, method name, picture) in ``pairs`` order. The same inputs give the
    same ids, but a rater who knows the toolkit and the seed (usually the default) cannot
    recompute which id is which method: that needs the key itself (study.json)."""
    import hashlib

    digest = hashlib.sha256()
    for sid, name in pairs:
        picture = np.ascontiguousarray(pictures[name][index[sid]])
        digest.update(f"{sid}\0{name}\0{picture.shape}\0".encode())
        digest.update(picture.tobytes())
    words = np.frombuffer(digest.digest(), dtype=">u4").tolist()
    return np.random.default_rng([int(seed), 1, *words])


def write_folder(
    stage: str, pictures: dict, methods, samples: dict, cfg: MakeConfig, forms: dict | None = None
) -> dict:
    """Write images, study.json and instructions.txt into ``stage``; returns study.json's dict.
    A checkpoint's source names the harmonizer output form it was rendered with (``forms``)."""
    from PIL import Image

    pairs = [(sid, name) for sid in samples["id"] for name, _, _ in methods]
    index = {sid: k for k, sid in enumerate(samples["id"])}
    ids = F.draw_item_ids(id_generator(cfg.seed, pairs, pictures, index), len(pairs))
    os.makedirs(os.path.join(stage, F.IMAGES_DIR))
    items = {}
    for item, (sid, name) in sorted(zip(ids, pairs, strict=False)):
        Image.fromarray(pictures[name][index[sid]], "RGB").save(F.image_path(stage, item), format="PNG")
        items[item] = {"sample": sid, "method": name}
    study = {
        "format": F.STUDY_FORMAT,
        "version": F.STUDY_VERSION,
        "seed": int(cfg.seed),
        "split": cfg.split,
        "image_size": list(samples["I_d"].shape[1:3]),
        "methods": [name for name, _, _ in methods],
        "method_sources": {
            name: f"{kind}: {source}"
            + (f" (harmonizer output {forms[name]})" if name in (forms or {}) else "")
            for name, kind, source in methods
        },
        "samples": list(samples["id"]),
        "items": items,
    }
    atomic_write_text(os.path.join(stage, F.STUDY_JSON), json.dumps(study, indent=1) + "\n")
    atomic_write_text(os.path.join(stage, F.INSTRUCTIONS_TXT), F.DEFAULT_INSTRUCTIONS + "\n")
    return study


def make_study(cfg: MakeConfig) -> dict:
    """Write the study folder ``cfg.out`` (staged in a sibling folder, then renamed into place).

    Returns {"out", "items", "samples", "methods"}. StudyError (one line) for unusable input.
    """
    from hmh_train.data.shards import ShardDataset

    out = os.path.normpath(os.fspath(cfg.out))
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)) and not cfg.overwrite:
        raise F.StudyError(f"{out}: already exists; pass --overwrite to replace it (and its ratings)")
    if cfg.n < 1 or cfg.batch_size < 1:
        raise F.StudyError("--n and --batch-size must be at least 1")
    methods = list_methods(cfg)
    dataset = ShardDataset(cfg.shards, split=cfg.split)
    samples = read_samples(dataset, pick_samples(dataset, cfg.n, cfg.seed))
    pictures, forms = render_all(methods, samples, cfg)
    stage = f"{out}.making"
    shutil.rmtree(stage, ignore_errors=True)
    try:
        study = write_folder(stage, pictures, methods, samples, cfg, forms)
        if os.path.exists(out):
            shutil.rmtree(out) if os.path.isdir(out) else os.remove(out)
        os.replace(stage, out)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return {
        "out": out,
        "items": len(study["items"]),
        "samples": len(study["samples"]),
        "methods": study["methods"],
    }
