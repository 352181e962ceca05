"""A labelled grid of samples: one row per sample, columns I | A | F | B | I_d (HMH shards) or
I_d | M | I (harmonization pairs: composite, mask of the changed region, real image).

Each row carries a caption with the sample id and its transform and parameters (HMH) or its
subset (pairs); the header names the columns, the I_d column of HMH shards with the side its
transform altered ("I_d (bg altered)" or "I_d (fg altered)", from the manifest's
``config.altered``). Panels show the stored pixels (RGB; the matte as grey), enlarged by an
integer nearest-neighbour factor when samples are smaller than ``MIN_CELL`` pixels so the
text stays readable. Works on build and release folders (anything with a manifest).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import numpy as np

from hmh_builder import schema
from hmh_builder.inspect import folder as folder_io

COLUMNS = ("I", "A", "F", "B", "I_d")
#: Header of the I_d column per altered side.
I_D_LABEL = {"background": "I_d (bg altered)", "foreground": "I_d (fg altered)"}
PAIR_COLUMNS = ("I_d", "M", "I")
MIN_CELL = 96
GAP = 4


@dataclass(frozen=True)
class Layout:
    """Geometry of a preview grid (pixels). Panel (row, col) spans ``panel_box``."""

    rows: int
    cell_h: int
    cell_w: int
    columns: int = len(COLUMNS)

    @property
    def font_size(self) -> int:
        """Text height in pixels: grows with the panels (11 at 96 px, 18 at 256 px)."""
        return min(24, max(11, round(self.cell_w / 14)))

    @property
    def band(self) -> int:
        """Height of the header and of each row's caption band."""
        return self.font_size + 6

    @property
    def size(self) -> tuple:
        """(width, height) of the whole image."""
        width = GAP + self.columns * (self.cell_w + GAP)
        return width, self.band + self.rows * (self.band + self.cell_h + GAP)

    def panel_box(self, row: int, col: int) -> tuple:
        """(x0, y0, x1, y1) of a panel, end-exclusive."""
        x0 = GAP + col * (self.cell_w + GAP)
        y0 = self.band + row * (self.band + self.cell_h + GAP) + self.band
        return x0, y0, x0 + self.cell_w, y0 + self.cell_h

    def caption_xy(self, row: int) -> tuple:
        return GAP, self.band + row * (self.band + self.cell_h + GAP) + 2


def scale_for(height: int, width: int) -> int:
    """Integer enlargement so the larger side reaches at least MIN_CELL pixels."""
    return max(1, math.ceil(MIN_CELL / max(height, width)))


def panel_image(sample: dict, name: str, scale: int) -> np.ndarray:
    """uint8 (H·s, W·s, 3) RGB panel of one dataset of a sample (the matte as grey)."""
    array = sample[name]
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return np.repeat(np.repeat(array, scale, axis=0), scale, axis=1)


def caption(sample: dict, max_chars: int) -> str:
    """``id · transform · params`` (``id · subset`` for pairs) shortened to ``max_chars``."""
    if "subset" in sample:
        line = f"{sample['id']} · {sample['subset']}"
        return line if len(line) <= max_chars else line[: max_chars - 1] + "…"
    try:
        params = json.loads(sample["params"])
        text = ", ".join(f"{k}={_short(v)}" for k, v in sorted(params.items()))
    except (json.JSONDecodeError, AttributeError):
        text = sample["params"]
    line = f"{sample['id']} · {sample['transform']} · {text}"
    return line if len(line) <= max_chars else line[: max_chars - 1] + "…"


def _short(value):
    return f"{value:.3g}" if isinstance(value, float) else value


def column_labels(altered: str = schema.DEFAULT_ALTERED, columns=COLUMNS) -> tuple:
    """Header text of each column; the I_d column of HMH shards names the altered side."""
    if columns != COLUMNS:
        return tuple(columns)
    return tuple(I_D_LABEL[altered] if name == "I_d" else name for name in COLUMNS)


def render_preview(samples: list, altered: str = schema.DEFAULT_ALTERED):
    """PIL RGB image of the grid for samples (dicts of arrays + id/transform/params, or
    id/subset for harmonization pairs); ``altered`` labels the I_d column of HMH samples."""
    from PIL import Image, ImageDraw, ImageFont

    columns = PAIR_COLUMNS if "subset" in samples[0] else COLUMNS
    height, width = samples[0]["I"].shape[:2]
    scale = scale_for(height, width)
    layout = Layout(len(samples), height * scale, width * scale, len(columns))
    canvas = Image.new("RGB", layout.size, (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=layout.font_size)
    for col, label in enumerate(column_labels(altered, columns)):
        x0, _, x1, _ = layout.panel_box(0, col)
        draw.text(((x0 + x1) // 2, 2), label, fill=(0, 0, 0), font=font, anchor="ma")
    max_chars = int(layout.size[0] / (0.55 * layout.font_size))
    for row, sample in enumerate(samples):
        draw.text(layout.caption_xy(row), caption(sample, max_chars), fill=(0, 0, 0), font=font)
        for col, name in enumerate(columns):
            x0, y0, _, _ = layout.panel_box(row, col)
            canvas.paste(Image.fromarray(panel_image(sample, name, scale)), (x0, y0))
    return canvas


def choose_refs(folder, n: int = 8, split: str | None = "test", ids=None, seed: int = 0) -> list:
    """Samples to show: the given ids (any split), else ``n`` drawn with ``seed`` from ``split``.

    Raises ValueError (one line) for unknown ids or an empty split.
    """
    if ids:
        by_id = {ref.sample_id: ref for ref in folder_io.sample_refs(folder)}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise ValueError(f"{folder}: no sample with id {', '.join(missing)}")
        return [by_id[i] for i in ids]
    refs = folder_io.sample_refs(folder, split)
    if not refs:
        raise ValueError(f"{folder}: the {split} split has no samples")
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(refs), size=min(n, len(refs)), replace=False)
    return sorted((refs[i] for i in chosen), key=lambda ref: ref.sample_id)


def write_preview(folder, out_path, n: int = 8, split: str | None = "test", ids=None, seed: int = 0) -> int:
    """Render the preview of ``folder`` to ``out_path`` (PNG); returns the number of rows."""
    refs = choose_refs(folder, n=n, split=split, ids=ids, seed=seed)
    samples = folder_io.read_samples(folder, refs)
    altered = schema.manifest_altered(schema.load_manifest(folder))
    render_preview(samples, altered).save(out_path)
    return len(samples)
