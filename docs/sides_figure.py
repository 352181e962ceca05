"""Make docs/sides.png, the figure of the two directions of harmonization, from tiny
CPU-trained runs on the example source. It shows the mechanism (which region each direction
adjusts), not a quality: ten training portraits, a width-0.25 U-Net, a few hundred steps.

    python docs/sides_figure.py [--steps 400]      # about 10 CPU-minutes on 2 shared cores

For each side: ``hmh-build --altered SIDE`` of examples/kaggle_mini at 64×64, then
``hmh-train harmonization`` on it (width 0.25, num_downs 6, batch 6, lr 1e-3, seed 0). Then
one example portrait (its own matte as ``--alpha``) is put on a new scene — a synthetic
background (``hmh_builder.ingest.synthetic``, seed 7) given a warm colour cast so that it does
not fit the portrait — with ``hmh-train composite`` and each run's default side: the
background-trained run adjusts the scene (mask 1 − alpha), the foreground-trained run the
person (mask alpha). The bottom row shows |harmonized − composite| ×4: where each direction
changed the picture, under the alpha and the two masks.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EXAMPLE = ROOT / "examples" / "kaggle_mini"
PORTRAIT = "1803301154-00000002"
CAST = (1.25, 0.95, 0.65)  # per-channel gain of the new scene (RGB): a warm, orange light
PANEL = (150, 200)  # width, height of each panel in the figure


def _run(cli, args: list[str]) -> str:
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, [str(a) for a in args])
    if result.exit_code:
        sys.exit(result.output)
    return result.output


def _train(tmp: Path, side: str, steps: int) -> Path:
    from hmh_builder.cli import main as build
    from hmh_train.cli import main as train

    shards, run = tmp / f"shards-{side}", tmp / f"run-{side}"
    _run(
        build,
        [
            "build",
            "--src",
            EXAMPLE,
            "--out",
            shards,
            "--size",
            64,
            "--altered",
            side,
            "--workers",
            1,
            "--no-progress",
        ],
    )
    _run(
        train,
        [
            "harmonization",
            "--shards",
            shards,
            "--out",
            run,
            "--width",
            0.25,
            "--num-downs",
            6,
            "--batch-size",
            6,
            "--workers",
            0,
            "--max-steps",
            steps,
            "--epochs",
            100_000,
            "--seed",
            0,
            "--no-progress",
            "--set",
            "lr_harmonization=0.001",
        ],
    )
    return run


def _scene(path: Path, height: int, width: int) -> None:
    """A synthetic scene of the portrait's size (H, W) under a warm cast, written as PNG."""
    from PIL import Image

    from hmh_builder.ingest.synthetic import synthetic_portrait

    _, _, background = synthetic_portrait(np.random.default_rng([7, 0]), height, width)
    warm = np.clip(background.astype(np.float32) * np.array(CAST, np.float32), 0, 255)
    Image.fromarray(np.rint(warm).astype(np.uint8)).save(path)


def _panel(image: np.ndarray, label: str):
    from PIL import Image, ImageDraw

    tile = Image.fromarray(image).convert("RGB").resize(PANEL, Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(tile)
    draw.rectangle((0, 0, PANEL[0], 14), fill=(0, 0, 0))
    draw.text((3, 1), label, fill=(255, 255, 255))
    return tile


def main(out: Path = ROOT / "docs" / "sides.png", steps: int = 400) -> None:
    from PIL import Image

    from hmh_train.cli import main as train

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        runs = {side: _train(tmp, side, steps) for side in ("background", "foreground")}
        image = EXAMPLE / "clip_img" / "1803301154" / "clip_00000000" / f"{PORTRAIT}.jpg"
        matte = EXAMPLE / "matting" / "1803301154" / "matting_00000000" / f"{PORTRAIT}.png"
        _scene(tmp / "scene.png", *Image.open(image).size[::-1])
        results = {}
        for side, run in runs.items():  # each run's default side: the one it was trained on
            _run(
                train,
                [
                    "composite",
                    "--ckpt",
                    run,
                    "--image",
                    image,
                    "--alpha",
                    matte,
                    "--background",
                    tmp / "scene.png",
                    "--out",
                    tmp / f"{side}.png",
                    "--harmonize-size",
                    64,
                    "--device",
                    "cpu",
                    "--figure",
                    tmp / f"{side}-fig.png",
                ],
            )
            results[side] = np.array(Image.open(tmp / f"{side}.png").convert("RGB"))
        portrait = np.array(Image.open(image).convert("RGB"))
        alpha = np.array(Image.open(matte))[..., 3].astype(np.float32)[..., None] / 255
        scene = np.array(Image.open(tmp / "scene.png"))
        composite = np.rint(portrait * alpha + scene * (1 - alpha)).astype(np.uint8)

        def change(x):
            return np.clip(np.abs(x.astype(np.int16) - composite.astype(np.int16)) * 4, 0, 255).astype(
                np.uint8
            )

        top = [
            (portrait, "portrait"),
            (scene, "new scene"),
            (composite, "composite"),
            (results["background"], "scene adjusted (1-A)"),
            (results["foreground"], "person adjusted (A)"),
        ]
        gray = np.repeat(np.rint(alpha * 255).astype(np.uint8), 3, 2)
        bottom = [
            (gray, "alpha A"),
            (255 - gray, "mask 1-A (scene)"),
            (gray, "mask A (person)"),
            (change(results["background"]), "|change| x4"),
            (change(results["foreground"]), "|change| x4"),
        ]
        gap = 4
        figure = Image.new("RGB", (5 * PANEL[0] + 4 * gap, 2 * PANEL[1] + gap), (255, 255, 255))
        for row, panels in enumerate((top, bottom)):
            for col, (array, label) in enumerate(panels):
                figure.paste(_panel(array, label), (col * (PANEL[0] + gap), row * (PANEL[1] + gap)))
        figure.quantize(128, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size // 1024} KiB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400, help="training steps per side")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "sides.png")
    args = parser.parse_args()
    main(args.out, args.steps)
