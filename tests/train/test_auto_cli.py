"""``matte`` and ``composite`` with ``--auto-mask``, ``--max-side`` and ``--max-pixels`` through the
command line, on real photographs (scikit-image's astronaut; its coffee cup has no person) and a
tiny seeded matting checkpoint."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from hmh_train.infer import automask

from .cli_helpers import invoke, one_line_error
from .tiny_ckpt import save_tiny_checkpoint

pytest.importorskip("tflite", reason="the optional extra 'auto' is not installed")
skdata = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("photos")
    (root / "images").mkdir()
    Image.fromarray(skdata.astronaut()).save(root / "images" / "astronaut.png")
    Image.fromarray(skdata.coffee()).save(root / "images" / "coffee.png")
    (root / "bg").mkdir()
    Image.fromarray(skdata.chelsea()).save(root / "bg" / "cat.png")
    save_tiny_checkpoint(root / "run", names=("matting",))
    return root


def test_matte_auto_mask_single_form_writes_a_matte_that_follows_the_mask(photos, tmp_path):
    out = tmp_path / "alpha.png"
    result = invoke(
        "matte",
        "--ckpt",
        photos / "run",
        "--image",
        photos / "images" / "astronaut.png",
        "--auto-mask",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    alpha = np.array(Image.open(out))
    trimap = automask.auto_trimap(automask.load_segmenter(), skdata.astronaut())
    assert alpha.shape == (512, 512)
    np.testing.assert_array_equal(alpha[trimap != 128], trimap[trimap != 128])


def test_no_person_is_one_line_naming_the_file(photos, tmp_path):
    coffee = photos / "images" / "coffee.png"
    line = one_line_error(
        invoke(
            "matte", "--ckpt", photos / "run", "--image", coffee, "--auto-mask", "--out", tmp_path / "a.png"
        )
    )
    assert f"{coffee}: no person found by the automatic mask" in line
    assert not (tmp_path / "a.png").exists()


def test_batch_forms_list_the_photo_without_a_person_in_failures_csv(photos, tmp_path):
    result = invoke(
        "matte",
        "--ckpt",
        photos / "run",
        "--images",
        photos / "images",
        "--auto-mask",
        "--out",
        tmp_path / "m",
        "--no-progress",
    )
    assert result.exit_code == 3, result.output
    assert (tmp_path / "m" / "astronaut.png").exists() and not (tmp_path / "m" / "coffee.png").exists()
    with open(tmp_path / "m" / "failures.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["image"] for r in rows] == ["coffee"] and "no person found" in rows[0]["reason"]
    result = invoke(
        "composite", "--ckpt", photos / "run", "--images", photos / "images", "--auto-mask",
        "--backgrounds", photos / "bg", "--out", tmp_path / "c", "--no-progress",
    )  # fmt: skip
    assert result.exit_code == 3, result.output
    assert np.array(Image.open(tmp_path / "c" / "astronaut.png")).shape == (512, 512, 3)
    with open(tmp_path / "c" / "failures.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["portrait"] for r in rows] == ["coffee"] and "no person found" in rows[0]["reason"]


def test_composite_single_form_with_auto_mask_and_a_capped_working_size(photos, tmp_path):
    out = tmp_path / "c.png"
    result = invoke(
        "composite", "--ckpt", photos / "run", "--image", photos / "images" / "astronaut.png", "--auto-mask",
        "--background", photos / "bg" / "cat.png", "--max-side", 256, "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    composite = np.array(Image.open(out))
    assert composite.shape == (512, 512, 3)
    trimap = automask.auto_trimap(automask.load_segmenter(), skdata.astronaut())
    sure = trimap == 255  # the person is kept exactly where the trimap is sure
    assert np.abs(composite[sure].astype(int) - skdata.astronaut()[sure]).max() <= 1


def test_auto_mask_with_a_trimap_is_a_usage_error(photos, tmp_path):
    result = invoke(
        "matte", "--ckpt", photos / "run", "--image", photos / "images" / "astronaut.png", "--auto-mask",
        "--trimap", photos / "images" / "astronaut.png", "--out", tmp_path / "a.png",
    )  # fmt: skip
    assert result.exit_code == 2 and "--auto-mask makes the trimap" in result.output


def test_max_pixels_refuses_before_decoding(photos, tmp_path, monkeypatch):
    import hmh_builder.imageio as imageio

    def no_decode(*args, **kwargs):
        raise AssertionError("decoded")

    monkeypatch.setattr(imageio.cv2, "imdecode", no_decode)
    image = photos / "images" / "astronaut.png"
    for command in (
        ("matte", "--auto-mask"),
        ("composite", "--auto-mask", "--background", photos / "bg" / "cat.png"),
    ):
        line = one_line_error(
            invoke(
                *command,
                "--ckpt",
                photos / "run",
                "--image",
                image,
                "--max-pixels",
                262_143,
                "--out",
                tmp_path / "o.png",
            )
        )
        assert f"{image} is 512×512 = 262,144 pixels, above the limit of 262,143 (--max-pixels)" in line
    # a header claiming 40000×40000 (a PNG a few hundred bytes long) under the default limit
    huge = tmp_path / "huge.png"
    data = bytearray(image.read_bytes()[:33])
    data[16:24] = (40000).to_bytes(4, "big") * 2
    huge.write_bytes(bytes(data))
    line = one_line_error(
        invoke("matte", "--ckpt", photos / "run", "--image", huge, "--auto-mask", "--out", tmp_path / "o.png")
    )
    assert "40000×40000 = 1,600,000,000 pixels, above the limit of 50,000,000" in line


def test_the_api_mattes_and_composites_with_neither_trimap_nor_mask(photos):
    import hmh_train as hmh

    model = hmh.load(photos / "run")
    image = skdata.astronaut()
    trimap = automask.auto_trimap(automask.load_segmenter(), image)
    np.testing.assert_array_equal(model.matte(image), model.matte(image, trimap))
    out = model.composite(image, skdata.chelsea())
    assert out.shape == (512, 512, 3) and out.dtype == np.uint8
    with pytest.raises(automask.NoPersonError, match="no person found"):
        model.matte(skdata.coffee())


def test_without_the_extra_auto_mask_is_one_line_before_any_work(photos, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_tflite(name, *args, **kwargs):
        if name == "tflite":
            raise ImportError("No module named 'tflite'")
        return real_import(name, *args, **kwargs)

    automask.load_segmenter.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_tflite)
    try:
        for command in (("matte",), ("composite", "--background", photos / "bg" / "cat.png")):
            line = one_line_error(
                invoke(*command, "--ckpt", photos / "run", "--image", photos / "images" / "astronaut.png",
                       "--auto-mask", "--out", tmp_path / "o.png")
            )  # fmt: skip
            assert "pip install 'hmh-toolkit[auto]'" in line
        assert not (tmp_path / "o.png").exists()
    finally:
        monkeypatch.undo()
        automask.load_segmenter.cache_clear()
