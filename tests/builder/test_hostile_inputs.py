"""Hostile or unreadable source files: sizes come from the headers before anything is decoded.

A matte whose header claims 20000×20000 next to a 120×160 image, or a pair above
``--max-pixels``, fails with one line and is never decoded (bounded memory); images in formats
the builder does not read become ``decode`` failures naming the format (not silent skips, and
their mattes are not reported as "has no image").
"""

import zlib

import cv2
import pytest
from click.testing import CliRunner

from hmh_builder import imageio
from hmh_builder.cli import main
from tests.builder.helpers import build_args, failures, kaggle_source, manifest

GROUP = "1803151818"


def _image(src, k, ext=".jpg"):
    return src / "clip_img" / GROUP / "clip_00000000" / f"{GROUP}-{k:08d}{ext}"


def _matte(src, k, ext=".png"):
    return src / "matting" / GROUP / "matting_00000000" / f"{GROUP}-{k:08d}{ext}"


def claim_png_size(data: bytes, width: int, height: int) -> bytes:
    """The PNG with its IHDR rewritten to claim width×height (CRC fixed; pixels unchanged)."""
    assert data[12:16] == b"IHDR"
    ihdr = b"IHDR" + width.to_bytes(4, "big") + height.to_bytes(4, "big") + data[24:29]
    return data[:12] + ihdr + zlib.crc32(ihdr).to_bytes(4, "big") + data[33:]


def claim_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    """The JPEG with its baseline frame header (SOF0) claiming width×height."""
    at = data.find(b"\xff\xc0")
    assert at > 0
    return data[: at + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + data[at + 9 :]


def _convert(path, ext):
    """Rewrite an image file in another format (OpenCV, by extension); returns the new path."""
    new = path.with_suffix(ext)
    assert cv2.imwrite(str(new), cv2.imread(str(path), cv2.IMREAD_UNCHANGED))
    path.unlink()
    return new


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A 9-portrait source with six hostile or unreadable pairs, built in-process with every
    decode recorded; returns (src, out, result, decoded paths, expected {id: (stage, words)})."""
    root = tmp_path_factory.mktemp("hostile")
    src = kaggle_source(root, n=9)
    matte = _matte(src, 1)
    matte.write_bytes(claim_png_size(matte.read_bytes(), 20000, 20000))
    _image(src, 2).write_bytes(claim_jpeg_size(_image(src, 2).read_bytes(), 9000, 9000))
    _matte(src, 2).write_bytes(claim_png_size(_matte(src, 2).read_bytes(), 9000, 9000))
    webp = _convert(_image(src, 3), ".webp")
    bmp = _convert(_image(src, 4), ".bmp")
    tif = _convert(_matte(src, 5), ".tif")
    gif = _image(src, 6).with_suffix(".gif")
    gif.write_bytes(b"GIF89a" + b"\0" * 40)  # named and signed GIF, not decodable by anyone
    _image(src, 6).unlink()
    expected = {
        f"{GROUP}-{k:08d}": v
        for k, v in {
            1: ("validate", ["120×160", "20000×20000", "same size"]),
            2: (
                "decode",
                [
                    "9000×9000 = 81,000,000 pixels",
                    "limit of 50,000,000 (hmh-build --max-pixels)",
                    "not decoded",
                ],
            ),
            3: ("decode", [webp.name, "WebP format", "only JPEG and PNG"]),
            4: ("decode", [bmp.name, "BMP format"]),
            5: ("decode", [tif.name, "TIFF format"]),
            6: ("decode", [gif.name]),
        }.items()
    }
    decoded = []
    real = imageio.read_bytes
    with pytest.MonkeyPatch.context() as patch:  # every full read of a file = a decode
        patch.setattr(imageio, "read_bytes", lambda path: decoded.append(path) or real(path))
        out = root / "out"
        result = CliRunner().invoke(main, build_args(src, out, "--workers", 1))
    return src, out, result, decoded, expected


def test_each_hostile_pair_is_one_failure_with_its_reason(hostile):
    src, out, result, _, expected = hostile
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    records = {f["id"]: f for f in failures(out)}
    assert set(records) == set(expected), records
    for sample_id, (stage, words) in expected.items():
        record = records[sample_id]
        assert record["stage"] == stage and all(w in record["reason"] for w in words), record
        assert "\n" not in record["reason"] and (src / record["path"]).is_file(), record
        assert "has no image" not in record["reason"] and "has no matte" not in record["reason"]
    assert manifest(out)["counts"]["written"] == 3


def test_hostile_files_are_never_decoded(hostile):
    """Only the headers of the oversized files and of the other formats were read (also when
    another sample draws one of those images as its Reinhard target)."""
    src, _, _, decoded, _ = hostile
    never = [
        _matte(src, 1),
        _image(src, 2),
        _matte(src, 2),
        _image(src, 3, ".webp"),
        _image(src, 4, ".bmp"),
        _matte(src, 5, ".tif"),
    ]
    assert {str(p) for p in never} & set(decoded) == set()
    assert str(_image(src, 7)) in decoded  # the recorder sees the decodes that do happen


@pytest.mark.parametrize("limit, written", [(19200, 2), (19199, 0)])
def test_max_pixels_is_inclusive_and_recorded(tmp_path, limit, written):
    """120×160 = 19,200 pixels: allowed at --max-pixels 19200, refused one below."""
    src = kaggle_source(tmp_path, n=2)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, build_args(src, out, "--workers", 1, "--max-pixels", limit))
    assert result.exit_code == (0 if written else 3), result.output
    m = manifest(out)
    assert m["counts"]["written"] == written and m["config"]["max_pixels"] == limit
    assert all("120×160 = 19,200 pixels, above the limit of 19,199" in f["reason"] for f in failures(out))
