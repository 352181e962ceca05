import cv2
import numpy as np
import pytest

from hmh_builder.imageio import DecodeError, decode_image, decode_matte


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


@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"this is not an image at all", "not a readable JPEG or PNG"),
    (_jpeg_bytes()[:300], "truncated JPEG"),
    (_jpeg_bytes()[:len(_jpeg_bytes()) // 2], "truncated JPEG"),
])
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
    return data[:at + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big") + data[at + 9:]


def test_header_claiming_an_absurd_size_is_a_decode_error_not_a_crash(tmp_path):
    """OpenCV raises cv2.error (instead of returning None) past its pixel limit; one corrupt
    header must become this file's failure, not abort the whole build."""
    path = tmp_path / "huge.jpg"
    path.write_bytes(_claims_size(_jpeg_bytes(), 65000, 65000))
    with pytest.raises(DecodeError, match="cannot be decoded") as info:
        decode_image(str(path))
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_png_with_bytes_after_iend_is_not_called_truncated(tmp_path):
    """Some tools append data after a PNG's IEND chunk; OpenCV decodes such files, so the
    builder must not reject them as truncated."""
    bgra = np.zeros((6, 5, 4), np.uint8)
    bgra[..., 3] = 200
    path = _write(tmp_path / "m.png", bgra, ".png")
    path.write_bytes(path.read_bytes() + b"\0" * 100)
    assert decode_matte(str(path), "kaggle").tolist() == [[200] * 5] * 6
