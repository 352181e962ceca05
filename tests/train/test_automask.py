"""The automatic mask: MediaPipe's selfie segmentation run by our TFLite reader, against the
output of MediaPipe's own code (``fixtures/README.md``), on real photographs shipped with
scikit-image; the "no person" refusal; the TFLite ops against simple oracles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hmh_train.infer import automask
from hmh_train.nets import tflite_graph as G

pytest.importorskip("tflite", reason="the optional extra 'auto' is not installed")
skdata = pytest.importorskip("skimage.data")

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_same_padding_splits_like_tensorflow():
    # 128 → 64 with a 3×3 kernel, stride 2: TF pads 0 before and 1 after
    assert G._same_pads(128, 3, 2) == (0, 1)
    assert G._same_pads(7, 3, 1) == (1, 1)
    assert G._same_pads(64, 5, 1, dilation=2) == (4, 4)
    assert G._same_pads(8, 1, 2) == (0, 0)


def test_depthwise_conv_and_average_pool_against_naive_loops():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 2, 5, 5)).astype(np.float32)
    w = rng.normal(size=(2, 1, 3, 3)).astype(np.float32)
    opts = {"stride": (2, 2), "dilation": (1, 1), "same": True, "activation": 0}
    got = G.conv(torch.from_numpy(x), torch.from_numpy(w), None, opts, groups=2).numpy()
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))  # 5 → 3 at stride 2: 1 before, 1 after
    want = np.zeros((1, 2, 3, 3), np.float32)
    for c in range(2):
        for i in range(3):
            for j in range(3):
                want[0, c, i, j] = (padded[0, c, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3] * w[c, 0]).sum()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    pool = G.average_pool(
        torch.ones(1, 1, 3, 3), {"filter": (2, 2), "stride": (2, 2), "same": True, "activation": 0}
    )
    np.testing.assert_array_equal(pool.numpy(), np.ones((1, 1, 2, 2)))  # padding not counted


def test_transpose_conv_bias_places_each_kernel_once():
    x = torch.tensor([[[[1.0, 2.0]]]])  # (1, 1, 1, 2)
    weight = torch.tensor([[[[1.0, 10.0], [100.0, 1000.0]]]])  # (in 1, out 1, 2, 2)
    y = G.transpose_conv_bias(x, weight, torch.tensor([0.5]), {"stride": (2, 2)})
    want = [[1.5, 10.5, 2.5, 20.5], [100.5, 1000.5, 200.5, 2000.5]]
    np.testing.assert_array_equal(y[0, 0].numpy(), np.array(want, np.float32))


def test_the_model_reproduces_mediapipes_own_mask_of_a_real_photo():
    official = np.array(Image.open(FIXTURES / "astronaut_mediapipe_mask.png"))
    ours = automask.person_probability(automask.load_segmenter(), skdata.astronaut())
    ours = np.rint(ours * 255).astype(np.int16)
    assert ours.shape == official.shape == (512, 512)
    assert np.mean(np.abs(ours - official) <= 1) >= 0.999


def test_astronaut_gets_a_plausible_mask_and_trimap():
    image = skdata.astronaut()  # Eileen Collins, head and shoulders, NASA photo
    mask = automask.auto_mask(automask.load_segmenter(), image)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 255}
    assert 0.4 < (mask > 0).mean() < 0.7
    assert mask[150, 200] == 255 and mask[350, 250] == 255  # face, chest
    assert mask[20, 20] == 0 and mask[20, 490] == 0  # the background at the top corners
    trimap = automask.auto_trimap(automask.load_segmenter(), image)
    assert set(np.unique(trimap)) == {0, 128, 255}
    band = automask.auto_band(512, 512)
    assert band == automask.MASK_BAND  # 2 % of 512 is below the floor
    assert (trimap[mask == 0] != 255).all() and (trimap[mask == 255] != 0).all()


def test_a_photo_without_a_person_is_refused():
    with pytest.raises(automask.NoPersonError, match="no person found") as info:
        automask.auto_mask(automask.load_segmenter(), skdata.coffee())
    assert "\n" not in str(info.value)
    found, why = automask.person_found(np.zeros((10, 10), np.float32))
    assert not found and "covers 0.0%" in why


def test_without_the_extra_one_line_names_the_install(monkeypatch):
    import builtins

    from hmh_train.nets import tflite_read

    real_import = builtins.__import__

    def no_tflite(name, *args, **kwargs):
        if name == "tflite":
            raise ImportError("No module named 'tflite'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tflite)
    with pytest.raises(G.TfliteError, match=r"pip install 'hmh-toolkit\[auto\]'"):
        tflite_read.read_tflite(b"", "x.tflite")


def test_a_file_that_is_not_a_model_is_named():
    from hmh_train.nets import tflite_read

    with pytest.raises(G.TfliteError, match="bad.tflite: not a readable TFLite model"):
        tflite_read.read_tflite(b"\x00" * 64, "bad.tflite")


def test_band_trimap_is_the_disk_rule_of_trimap_from_mask():
    from hmh_train.infer.ops import trimap_from_mask

    mask = np.zeros((120, 150), np.uint8)
    mask[30:100, 40:120] = 255
    mask[10:30, 60:70] = 255  # a thin part that the erosion removes
    for band in (1, 4, 9):
        ours, disk = automask.band_trimap(mask, band), trimap_from_mask(mask, band)
        assert set(np.unique(ours)) <= {0, 128, 255}
        assert np.mean(ours == disk) > 0.995  # a digital disk vs the exact Euclidean distance
        assert (ours[mask == 0] != 255).all() and (ours[mask == 255] != 0).all()
    assert (automask.band_trimap(mask, 4)[35:95, 45:115] == 255).all()
