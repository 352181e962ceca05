"""A labelled grid of image tiles (matplotlib), written as PNG and PDF: the layout of
``hmh-train figure fig4`` and ``fig2``.

Tiles are uint8 ``(H, W, 3)`` RGB or ``(H, W)`` gray (shown in gray, 0–255) arrays; every tile
of the grid gets its own axes (no ticks), the column titles above the first row, the row
labels left of the first column, optional rectangles (crop marks) on chosen tiles. The figure
is built at a fixed ``DPI`` without tight bounding boxes, so each axes' window extent is where
its tile lies in the PNG (the tests read the layout back that way).
"""

from __future__ import annotations

import os

import numpy as np

DPI = 100
TILE_INCHES = 1.9  # side of one tile
TITLE_SIZE = 9
MARK_COLOUR = "#ff3b30"


class FigureError(ValueError):
    """A figure that cannot be made (one line)."""


def pyplot():
    """matplotlib's pyplot on the Agg backend; FigureError when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        raise FigureError("figures need matplotlib: pip install 'hmh-toolkit[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def grid_figure(tiles, col_titles, row_titles=None, marks=None, title: str | None = None):
    """The matplotlib Figure of ``tiles`` (a list of rows, each a list of arrays, all rows the
    same length as ``col_titles``); ``row_titles`` one per row (or None); ``marks`` {(row,
    col): (x, y, w, h)} rectangles in tile pixels; ``title`` above everything."""
    plt = pyplot()
    rows, cols = len(tiles), len(col_titles)
    if rows == 0 or any(len(r) != cols for r in tiles):
        raise FigureError(f"every row needs {cols} tiles")
    left = 0.35 if row_titles else 0.05
    top = 0.45 + (0.3 if title else 0.0)
    width, height = cols * TILE_INCHES + left + 0.05, rows * TILE_INCHES + top + 0.05
    fig = plt.figure(figsize=(width, height), dpi=DPI, facecolor="white")
    gap = 0.06 * TILE_INCHES
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            x0 = (left + c * TILE_INCHES + gap / 2) / width
            y0 = 1 - (top + (r + 1) * TILE_INCHES - gap / 2) / height
            ax = fig.add_axes((x0, y0, (TILE_INCHES - gap) / width, (TILE_INCHES - gap) / height))
            _show(ax, tile)
            if r == 0:
                ax.set_title(col_titles[c], fontsize=TITLE_SIZE, pad=3)
            if c == 0 and row_titles:
                ax.set_ylabel(row_titles[r], fontsize=TITLE_SIZE - 1)
            mark = (marks or {}).get((r, c))
            if mark:
                x, y, w, h = mark
                ax.add_patch(plt.Rectangle((x - 0.5, y - 0.5), w, h, fill=False, lw=1.2, ec=MARK_COLOUR))
    if title:
        fig.suptitle(title, fontsize=TITLE_SIZE + 1, y=1 - 0.12 / height)
    return fig


def _show(ax, tile) -> None:
    tile = np.asarray(tile)
    if tile.ndim == 2:
        ax.imshow(tile, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    else:
        ax.imshow(tile, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def check_out(out: str) -> None:
    """FigureError unless ``out`` ends in .png or .pdf (checked before any work)."""
    if os.path.splitext(out)[1].lower() not in (".png", ".pdf"):
        raise FigureError(f"{out}: the figure's name must end in .png or .pdf")


def save_figure(fig, out: str) -> list[str]:
    """Write ``fig`` as ``out`` (PNG) and the PDF beside it (same stem), each atomically;
    returns both paths and closes the figure."""
    plt = pyplot()
    check_out(out)
    stem = os.path.splitext(out)[0]
    paths = [stem + ".png", stem + ".pdf"]
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    try:
        for path in paths:
            tmp = f"{path}.tmp{os.path.splitext(path)[1]}"
            fig.savefig(tmp, dpi=DPI, facecolor="white")
            os.replace(tmp, path)
    finally:
        plt.close(fig)
    return paths


def tile_boxes(fig) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) pixel boxes of every axes of ``fig`` in the saved PNG (origin top left),
    in the order they were added (row by row)."""
    fig.canvas.draw()
    height = fig.get_figheight() * DPI
    boxes = []
    for ax in fig.axes:
        box = ax.get_window_extent()
        boxes.append((round(box.x0), round(height - box.y1), round(box.x1), round(height - box.y0)))
    return boxes


def figure_layout(fig) -> dict:
    """What ``fig`` shows, read back from it: {"titles": the column titles (first-row axes),
    "row_labels": the row labels, "boxes": ``tile_boxes``, "size": (width, height) in PNG
    pixels}."""
    return {
        "titles": [ax.get_title() for ax in fig.axes if ax.get_title()],
        "row_labels": [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()],
        "boxes": tile_boxes(fig),
        "size": (round(fig.get_figwidth() * DPI), round(fig.get_figheight() * DPI)),
    }
