"""Composition: pure functions (composite, mask → trimap, background fitting) and the
``hmh-train composite`` command (single and batch forms, clear one-line errors)."""

from __future__ import annotations

import csv

import cv2
import h5py
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from hmh_builder import schema
from hmh_train.cli import main
from hmh_train.infer import ops as infer
from hmh_train.infer.composite_batch import BackgroundPool, background_index
from hmh_train.train.checkpoint import load_nets

from .tiny_ckpt import save_tiny_checkpoint


# ------------------------------------------------------------------ pure functions
def test_composite_alpha_one_is_portrait_alpha_zero_is_background():
    g = torch.Generator().manual_seed(0)
    image, background = torch.rand(2, 3, 8, 9, generator=g), torch.rand(2, 3, 8, 9, generator=g)
    alpha = torch.zeros(2, 1, 8, 9)
    alpha[:, :, :, :4] = 1.0  # left: person, right: new background
    alpha[:, :, :, 4] = 0.25  # one soft column
    out = infer.composite(image, alpha, background)
    assert torch.equal(out[..., :4], image[..., :4])
    assert torch.equal(out[..., 5:], background[..., 5:])
    torch.testing.assert_close(out[..., 4], 0.25 * image[..., 4] + 0.75 * background[..., 4])
    with pytest.raises(ValueError):
        infer.composite(image, alpha, background[..., :8])


def test_trimap_from_mask_erode_dilate_rule():
    mask = np.zeros((9, 9), np.uint8)
    mask[2:7, 2:7] = 255  # 5×5 square
    t = infer.trimap_from_mask(mask, band=1)  # radius-1 disk = 3×3 cross
    assert t[4, 4] == 255 and (t[3:6, 3:6] == 255).all()  # eroded core
    assert t[2, 2] == 128 and t[1, 4] == 128 and t[4, 7] == 128  # edge ± 1 px
    assert t[1, 1] == 0 and t[0, 4] == 0 and t[8, 8] == 0  # cross disk: corner stays bg
    assert set(np.unique(t)) == {0, 128, 255}
    np.testing.assert_array_equal(infer.trimap_from_mask(mask, band=0), mask)
    # float masks threshold at 0.5 like uint8 at 128
    np.testing.assert_array_equal(infer.trimap_from_mask(mask / 255.0, 1), t)


def test_trimap_conversions_snap_user_values():
    user = np.array([[0, 40, 64, 128, 191, 192, 255]], np.uint8)  # e.g. JPEG-damaged trimap
    unit = infer.trimap_to_unit(user)
    assert unit.shape == (1, 1, 1, 7)
    assert unit.flatten().tolist() == [0, 0, 0.5, 0.5, 0.5, 1, 1]
    assert infer.trimap_to_uint8(unit)[0, 0, 0].tolist() == [0, 0, 128, 128, 128, 255, 255]


@pytest.mark.parametrize("shape", [(40, 60), (100, 30), (20, 20)])
def test_fit_background_covers_and_centre_crops(shape):
    bg = np.zeros((20, 30, 3), np.uint8)
    bg[:, :, 0] = np.arange(30)[None, :] * 8  # horizontal ramp in red
    out = infer.fit_background(bg, *shape)
    assert out.shape == (*shape, 3)
    # a centred crop keeps the middle of the ramp in the middle of the output
    mid = out[shape[0] // 2, shape[1] // 2, 0]
    assert abs(int(mid) - 116) <= 12
    # same size → untouched
    np.testing.assert_array_equal(infer.fit_background(bg, 20, 30), bg)


def test_compose_with_given_alpha_and_any_size(tmp_path):
    run = save_tiny_checkpoint(tmp_path / "run", ("harmonization",))
    nets, _ = load_nets(run)
    g = torch.Generator().manual_seed(1)
    image, background = torch.rand(1, 3, 40, 50, generator=g), torch.rand(1, 3, 40, 50, generator=g)
    alpha = (torch.rand(1, 1, 40, 50, generator=g) > 0.5).float()
    with torch.no_grad():
        out = infer.compose(nets, image, background, alpha=alpha)
    assert torch.equal(out["composite"], infer.composite(image, alpha, background))
    assert out["harmonized"].shape == (1, 3, 40, 50)
    # the harmonizer's mask is the new background, 1 − alpha (the one mask convention)
    expected = infer.harmonize_any_size(nets.harmonization, out["composite"], 1 - alpha, infer.HARMONIZE_SIDE)
    assert torch.equal(out["harmonized"], expected)
    assert 0 <= out["harmonized"].min() and out["harmonized"].max() <= 1
    with pytest.raises(ValueError):
        infer.compose(nets, image, background)  # no alpha, no trimap


def test_harmonize_any_size_is_the_plain_net_at_its_size_and_adds_the_change_otherwise(tmp_path):
    from hmh_train.nets.forward import harmonize

    nets, _ = load_nets(save_tiny_checkpoint(tmp_path / "run", ("harmonization",)))
    g = torch.Generator().manual_seed(2)
    comp, alpha = torch.rand(1, 3, 64, 64, generator=g), torch.rand(1, 1, 64, 64, generator=g)
    with torch.no_grad():
        plain = harmonize(nets.harmonization, comp, alpha)
        assert torch.equal(infer.harmonize_any_size(nets.harmonization, comp, alpha, 64), plain.clamp(0, 1))
        assert torch.equal(infer.harmonize_any_size(nets.harmonization, comp, alpha), plain.clamp(0, 1))
        small = torch.nn.functional.interpolate(comp, size=(32, 32), mode="bilinear", align_corners=False)
        small_a = torch.nn.functional.interpolate(alpha, size=(32, 32), mode="bilinear", align_corners=False)
        change = harmonize(nets.harmonization, small, small_a) - small
        up = torch.nn.functional.interpolate(change, size=(64, 64), mode="bilinear", align_corners=False)
        torch.testing.assert_close(
            infer.harmonize_any_size(nets.harmonization, comp, alpha, 32), (comp + up).clamp(0, 1)
        )


# ------------------------------------------------------------------ the command
def _png(path, array):
    bgr = cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if array.ndim == 3 else array
    assert cv2.imwrite(str(path), bgr)
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("composite")
    rng = np.random.default_rng(0)
    h, w = 48, 40
    alpha = np.zeros((h, w), np.uint8)
    alpha[10:40, 8:32] = 255
    alpha[9, 8:32] = 128
    return {
        "root": root,
        "run": save_tiny_checkpoint(root / "run"),
        "image": _png(root / "p.png", rng.integers(0, 256, (h, w, 3), dtype=np.uint8)),
        "alpha": _png(root / "a.png", alpha),
        "trimap": _png(root / "t.png", infer.trimap_from_mask(alpha, 3)),
        "mask": _png(root / "m.png", (alpha > 0).astype(np.uint8) * 255),
        "small": _png(root / "small.png", alpha[:20]),
        "background": _png(root / "bg.jpg", rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)),
    }


def _invoke(*args):
    return CliRunner().invoke(main, ["composite", "--no-progress", *map(str, args)])


@pytest.mark.parametrize("guide", ["trimap", "mask", "alpha"])
def test_single_form_writes_result_and_figure(files, tmp_path, guide):
    out, fig = tmp_path / "r.png", tmp_path / "f.jpg"
    result = _invoke(
        "--ckpt",
        files["run"],
        "--image",
        files["image"],
        f"--{guide}",
        files[guide],
        "--background",
        files["background"],
        "--out",
        out,
        "--figure",
        fig,
    )
    assert result.exit_code == 0, result.output
    written = cv2.imread(str(out))
    assert written.shape == (48, 40, 3)
    assert cv2.imread(str(fig)).shape[1] == 4 * 40 + 3 * 4  # four panels and three gaps
    assert "harmonized" in result.output


@pytest.mark.parametrize("rgba", [False, True])
def test_single_form_alpha_without_harmonization_is_the_plain_composite(files, tmp_path, rgba):
    run = save_tiny_checkpoint(tmp_path / "m_only", ("matting",))
    out = tmp_path / "plain.png"
    alpha_file = files["alpha"]
    if rgba:  # AISegment mattes: the alpha is the 4th channel of an RGBA PNG
        matte = cv2.imread(files["alpha"], cv2.IMREAD_GRAYSCALE)
        rgba_image = np.dstack([np.full(matte.shape + (3,), 77, np.uint8), matte])
        alpha_file = str(tmp_path / "rgba.png")
        assert cv2.imwrite(alpha_file, rgba_image)
    result = _invoke(
        "--ckpt",
        run,
        "--image",
        files["image"],
        "--alpha",
        alpha_file,
        "--background",
        files["background"],
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    image = cv2.imread(files["image"])
    bg = cv2.cvtColor(
        infer.fit_background(cv2.cvtColor(cv2.imread(files["background"]), cv2.COLOR_BGR2RGB), 48, 40),
        cv2.COLOR_RGB2BGR,
    )
    alpha = cv2.imread(files["alpha"], cv2.IMREAD_GRAYSCALE)
    written = cv2.imread(str(out))
    np.testing.assert_array_equal(written[alpha == 255], image[alpha == 255])
    np.testing.assert_array_equal(written[alpha == 0], bg[alpha == 0])


def test_clear_one_line_errors(files, tmp_path):
    base = ["--image", files["image"], "--background", files["background"], "--out", tmp_path / "o.png"]
    cases = {
        "nope: no such checkpoint": ["--ckpt", tmp_path / "nope", "--trimap", files["trimap"], *base],
        "small.png: trimap is 40×20 but the image is 40×48": [
            "--ckpt",
            files["run"],
            "--trimap",
            files["small"],
            *base,
        ],
    }
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    cases["broken.jpg"] = [
        "--ckpt",
        files["run"],
        "--trimap",
        files["trimap"],
        "--image",
        broken,
        "--background",
        files["background"],
        "--out",
        tmp_path / "o.png",
    ]
    cases["missing.png"] = [
        "--ckpt",
        files["run"],
        "--trimap",
        files["trimap"],
        "--image",
        files["image"],
        "--background",
        tmp_path / "missing.png",
        "--out",
        tmp_path / "o.png",
    ]
    cases["o.tiff: unknown output type"] = [
        "--ckpt",
        files["run"],
        "--trimap",
        files["trimap"],
        "--image",
        files["image"],
        "--background",
        files["background"],
        "--out",
        tmp_path / "o.tiff",
    ]
    colour = _png(
        tmp_path / "colour.png", np.random.default_rng(1).integers(0, 256, (48, 40, 3), dtype=np.uint8)
    )
    cases["colour.png is a 3-channel colour image"] = ["--ckpt", files["run"], "--trimap", colour, *base]
    for expected, args in cases.items():
        result = _invoke(*args)
        assert result.exit_code != 0, expected
        assert expected in result.output, (expected, result.output)
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    both = _invoke("--ckpt", files["run"], "--trimap", files["trimap"], "--mask", files["mask"], *base)
    assert both.exit_code != 0 and "exactly one" in both.output


def _background_shard(path, n=5):
    rng = np.random.default_rng(3)
    with h5py.File(path, "w") as h5:
        schema.create_background_datasets(h5, n, 32, 32)
        h5[schema.BACKGROUND_IMAGE_DATASET][...] = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        h5["id"][...] = [f"scene/{i}.jpg" for i in range(n)]
        h5.attrs.update(schema.background_attrs(32, 32, "test", "0" * 16))
    return path


def test_batch_form_seeded_backgrounds_from_shards_and_folders(files, tmp_path):
    portraits, alphas = tmp_path / "portraits", tmp_path / "alphas"
    portraits.mkdir(), alphas.mkdir()
    image = cv2.imread(files["image"])
    for stem in ("a", "b", "c"):
        cv2.imwrite(str(portraits / f"{stem}.jpg"), image)
        if stem != "c":  # c has no alpha: listed as a failure, the others go on
            cv2.imwrite(str(alphas / f"{stem}.png"), cv2.imread(files["alpha"], cv2.IMREAD_GRAYSCALE))
    bg_build = tmp_path / "bg"
    (bg_build / schema.BACKGROUND_SPLIT).mkdir(parents=True)
    _background_shard(bg_build / schema.background_shard_filename(0))
    outs = []
    for name in ("o1", "o2"):
        result = _invoke(
            "--ckpt",
            files["run"],
            "--images",
            portraits,
            "--alphas",
            alphas,
            "--backgrounds",
            bg_build,
            "--out",
            tmp_path / name,
            "--seed",
            7,
            "--figures",
        )
        assert result.exit_code == 3, result.output  # one portrait failed, the others written
        assert "wrote 2 composites" in result.output and "1 failed" in result.output
        outs.append(list(csv.reader(open(tmp_path / name / "backgrounds.csv"))))
    assert outs[0] == outs[1]  # same seed, same backgrounds
    pool = BackgroundPool(str(bg_build))
    assert outs[0][1] == ["a", pool[background_index(7, "a", len(pool))][0]]
    assert (tmp_path / "o1" / "a.png").is_file() and (tmp_path / "o1" / "figures" / "b.jpg").is_file()
    failures = list(csv.reader(open(tmp_path / "o1" / "failures.csv")))
    assert failures[1][0] == "c" and "no file with this name" in failures[1][1]
    # a plain image folder works too, and so does one shard file
    folder = tmp_path / "bg_images"
    folder.mkdir()
    cv2.imwrite(str(folder / "x.png"), image)
    assert len(BackgroundPool(str(folder))) == 1
    assert len(BackgroundPool(str(bg_build / schema.background_shard_filename(0)))) == 5
    # draws differ between seeds somewhere, and depend only on (seed, stem)
    assert len({background_index(s, "a", 5) for s in range(20)}) > 1


def test_batch_out_equal_to_an_input_folder_is_refused(files, tmp_path):
    portraits = tmp_path / "portraits"
    portraits.mkdir()
    cv2.imwrite(str(portraits / "a.png"), cv2.imread(files["image"]))
    before = (portraits / "a.png").read_bytes()
    bg = tmp_path / "bg"
    bg.mkdir()
    cv2.imwrite(str(bg / "x.png"), cv2.imread(files["image"]))
    for guide in ("--masks", "--alphas"):
        result = _invoke(
            "--ckpt",
            files["run"],
            "--images",
            portraits,
            guide,
            portraits,
            "--backgrounds",
            bg,
            "--out",
            portraits,
        )
        assert result.exit_code == 1 and "--out is also the --images folder" in result.output, result.output
        assert "Traceback" not in result.output
    assert (portraits / "a.png").read_bytes() == before


def test_background_folder_follows_symlinks_once(files, tmp_path):
    folder = tmp_path / "scenes"
    (folder / "sub").mkdir(parents=True)
    cv2.imwrite(str(folder / "sub" / "x.png"), cv2.imread(files["image"]))
    (folder / "sub" / "loop").symlink_to(folder)  # a loop: walked once
    (tmp_path / "linked").symlink_to(folder / "sub")
    pool = BackgroundPool(str(folder))
    assert len(pool) == 1 and pool[0][0] == "sub/x.png" and pool[0][1].shape == (48, 40, 3)
    assert len(BackgroundPool(str(tmp_path / "linked"))) == 1  # a symlinked folder is followed
