import cv2
import numpy as np
import pytest

from hmh_builder.imageio import DEFAULT_MAX_PIXELS, DecodeError, decode_image, decode_matte


def _write(path, bgr, ext):
    ok, buf = cv2.imencode(ext, bgr)
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def test_decoded_image_is_rgb(tmp_path):
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 2] = 200  # red in OpenCV's BGR order
    image = decode_image(str(_write(tmp_path / "red.png", bgr, ".png")))
    assert image.shape == (4, 5, 3) and image.dtype == np.uint8
    assert image[0, 0].tolist() == [200, 0, 0]


def test_kaggle_matte_is_the_fourth_channel_and_plain_matte_is_gray(tmp_path):
    bgra = np.zeros((3, 3, 4), np.uint8)
    bgra[..., 3] = [[0, 10, 20], [30, 40, 50], [60, 70, 255]]
    matte = decode_matte(str(_write(tmp_path / "m.png", bgra, ".png")), "kaggle")
    assert matte.tolist() == [[0, 10, 20], [30, 40, 50], [60, 70, 255]]
    gray = np.array([[1, 2], [3, 4]], np.uint8)
    assert decode_matte(str(_write(tmp_path / "g.png", gray, ".png")), "plain").tolist() == [[1, 2], [3, 4]]


def _jpeg_bytes():
    rng = np.random.default_rng(0)
    ok, buf = cv2.imencode(".jpg", rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    return buf.tobytes()


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "is empty"),
        (b"this is not an image at all", "not a readable JPEG or PNG"),
        (_jpeg_bytes()[:300], "truncated JPEG"),
        (_jpeg_bytes()[: len(_jpeg_bytes()) // 2], "truncated JPEG"),
    ],
)
def test_bad_jpeg_raises_one_sentence_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(DecodeError, match=message) as info:
        decode_image(str(path))
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_truncated_png_and_matte_without_alpha(tmp_path):
    rgb = np.full((16, 16, 3), 7, np.uint8)
    good = _write(tmp_path / "rgb.png", rgb, ".png")
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:-20])
    with pytest.raises(DecodeError, match="truncated PNG"):
        decode_matte(str(cut), "kaggle")
    with pytest.raises(DecodeError, match="no alpha channel"):
        decode_matte(str(good), "kaggle")


def test_a_missing_file_is_an_os_error_not_a_decode_error(tmp_path):
    with pytest.raises(OSError) as info:
        decode_image(str(tmp_path / "gone.jpg"))
    assert not isinstance(info.value, DecodeError)


def _claims_size(data: bytes, height: int, width: int) -> bytes:
    """A JPEG whose frame header (SOF0) claims another size; the pixel data is unchanged."""
    at = data.find(b"\xff\xc0")
    assert at > 0
    return data[: at + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + data[at + 9 :]


def test_header_claiming_an_absurd_size_is_a_decode_error_not_a_crash(tmp_path):
    """The pixel limit refuses it from the header; without a limit OpenCV raises cv2.error
    (instead of returning None) past its own; either way one corrupt header must become this
    file's failure, not abort the whole build."""
    path = tmp_path / "huge.jpg"
    path.write_bytes(_claims_size(_jpeg_bytes(), 65000, 65000))
    for limit, message in (
        (DEFAULT_MAX_PIXELS, "65000×65000 = 4,225,000,000 pixels, above the limit of 50,000,000"),
        (None, "cannot be decoded"),
    ):
        with pytest.raises(DecodeError, match=message) as info:
            decode_image(str(path), max_pixels=limit)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_png_with_bytes_after_iend_is_not_called_truncated(tmp_path):
    """Some tools append data after a PNG's IEND chunk; OpenCV decodes such files, so the
    builder must not reject them as truncated."""
    bgra = np.zeros((6, 5, 4), np.uint8)
    bgra[..., 3] = 200
    path = _write(tmp_path / "m.png", bgra, ".png")
    path.write_bytes(path.read_bytes() + b"\0" * 100)
    assert decode_matte(str(path), "kaggle").tolist() == [[200] * 5] * 6


def test_read_header_gives_format_and_size_without_decoding(tmp_path):
    """JPEG (baseline and progressive with a 70 KB ICC segment before the frame header) and
    PNG are parsed here; other formats are named by Pillow and refused when formats is given."""
    from PIL import Image

    from hmh_builder.imageio import READ_FORMATS, Header, read_header

    rgb = np.random.default_rng(1).integers(0, 255, (37, 53, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "p.jpg", progressive=True, icc_profile=b"x" * 70000)
    assert read_header(str(tmp_path / "p.jpg")) == Header("JPEG", 53, 37)
    for ext in (".jpg", ".png", ".webp", ".bmp", ".tif"):
        path = _write(tmp_path / f"i{ext}", rgb, ext)
        assert (read_header(str(path)).width, read_header(str(path)).height) == (53, 37)
    assert read_header(str(tmp_path / "i.png"), formats=READ_FORMATS).format == "PNG"
    for ext, name in ((".webp", "WebP"), (".bmp", "BMP"), (".tif", "TIFF")):
        with pytest.raises(DecodeError, match=f"is in {name} format; only JPEG and PNG"):
            read_header(str(tmp_path / f"i{ext}"), formats=READ_FORMATS)
        assert decode_image(str(tmp_path / f"i{ext}")).shape == (37, 53, 3)  # hmh-train reads them


@pytest.mark.parametrize("cut, message", [(4, "truncated JPEG"), (30, "truncated JPEG")])
def test_a_jpeg_cut_before_its_frame_header_is_named_truncated(tmp_path, cut, message):
    from hmh_builder.imageio import read_header

    path = tmp_path / "cut.jpg"
    path.write_bytes(_jpeg_bytes()[:cut])
    with pytest.raises(DecodeError, match=message):
        read_header(str(path))


def test_pixel_limit_is_checked_on_the_header(tmp_path):
    from tests.builder.test_hostile_inputs import claim_png_size

    path = _write(tmp_path / "m.png", np.zeros((6, 5, 4), np.uint8), ".png")
    path.write_bytes(claim_png_size(path.read_bytes(), 20000, 20000))
    with pytest.raises(DecodeError, match="20000×20000 = 400,000,000 pixels, above the limit of 50,000,000"):
        decode_matte(str(path), "kaggle")
    assert decode_matte(
        str(_write(tmp_path / "ok.png", np.zeros((6, 5, 4), np.uint8), ".png")), "kaggle", max_pixels=30
    ).shape == (6, 5)
    with pytest.raises(DecodeError, match="5×6 = 30 pixels, above the limit of 29 "):
        decode_matte(str(tmp_path / "ok.png"), "kaggle", max_pixels=29)
