"""Deep Image Matting (Table 1's DM row) against the authors' own code, and its checkpoint files.

``tests/fixtures/dm/`` holds what ``poppinace/indexnet_matting``'s ``demo_deep_matting.py`` and
``hlvggnet.DeepMatting`` produced (see its README) with the seeded weights of ``dm_weights``;
the 130 M weights are rebuilt here instead of being stored.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hmh_train.infer import protocols
from hmh_train.nets import build_matting_net, count_parameters
from hmh_train.nets.dim import DeepMatting
from hmh_train.nets.official import load_official
from hmh_train.train import checkpoint as C

from .cli_helpers import invoke, one_line_error
from .dm_weights import SEED, seeded_state

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "dm"
PARAMETERS = 130_545_345


def fixture_inputs():
    image = np.array(Image.open(FIXTURES / "image.png").convert("RGB"))
    return image, np.array(Image.open(FIXTURES / "trimap.png"))


def save_dm(path, width=0.0625, prefix="module.", drop=(), seed=0) -> Path:
    """A Deep Image Matting .pth.tar in the released layout (``{"state_dict", "epoch"}``)."""
    torch.manual_seed(seed)
    state = {prefix + k: v for k, v in DeepMatting(width).state_dict().items() if k not in drop}
    torch.save({"state_dict": state, "epoch": 20, "best_pred": 0.0}, path)
    return Path(path)


def test_layout_and_parameter_count_equal_the_official_network():
    official = json.loads((FIXTURES / "official_keys.json").read_text())
    net = build_matting_net(net="dim")
    assert [[k, list(v.shape)] for k, v in net.state_dict().items()] == official["state_dict"]
    assert count_parameters(net) == official["parameters"] == PARAMETERS
    assert net.arch == {"net": "dim", "width": 1.0}


def test_fresh_network_is_the_official_random_initialisation():
    """Same seed, same tensors as the authors' ``hlvgg16()`` (per-tensor sums in the fixture)."""
    official = json.loads((FIXTURES / "official_init_seed0.json").read_text())
    torch.manual_seed(official["seed"])
    state = DeepMatting().state_dict()
    for key, total, absolute in official["sums"]:
        value = state[key].double()
        assert float(value.sum()) == pytest.approx(total, rel=1e-9, abs=1e-9), key
        assert float(value.abs().sum()) == pytest.approx(absolute, rel=1e-9), key


def test_official_output_and_demo_matte_are_reproduced():
    """One forward at 320×224 and one at the demo's half size (160×128), weights from the recipe."""
    shapes = {k: tuple(v.shape) for k, v in DeepMatting().state_dict().items()}
    obj = {"state_dict": seeded_state(shapes, SEED)}
    name, net, report = load_official(obj, "recipe")
    del obj
    assert name == "matting" and isinstance(net, DeepMatting) and report.matched == len(shapes)
    image, trimap = fixture_inputs()
    for tag, scale, size in (("full", None, (224, 320)), ("half", 0.5, (128, 160))):
        x = torch.from_numpy(protocols.dim_demo_input(image, trimap, scale))
        assert tuple(x.shape) == (1, 4, *size)
        with torch.no_grad():
            raw = net(x).numpy()
        official = np.load(FIXTURES / f"raw_{tag}.npy")
        assert raw.shape == official.shape
        assert np.abs(raw - official).max() <= 1e-4, tag
        assert 0.05 < ((official > 0) & (official < 1)).mean()  # not saturated: the test can fail
        alpha = protocols.dim_demo_alpha(net, image, trimap, scale)
        demo = np.array(Image.open(FIXTURES / f"demo_{tag}.png"))
        assert alpha.shape == demo.shape == trimap.shape and alpha.dtype == np.uint8
        assert np.abs(alpha.astype(int) - demo.astype(int)).max() <= 1, tag
    # the half-size shortcut changes the result (the two fixtures test different things)
    full, half = (np.array(Image.open(FIXTURES / f"demo_{t}.png")).astype(int) for t in ("full", "half"))
    assert np.abs(full - half).max() > 10


def test_full_resolution_procedure_equals_indexnets_demo():
    image, trimap = fixture_inputs()
    net = build_matting_net(0.0625, net="dim")
    a = protocols.dim_demo_alpha(net, image, trimap)
    b = protocols.indexnet_demo_alpha(net, image, trimap)
    np.testing.assert_array_equal(a, b)
    assert np.array_equal(
        protocols.dim_demo_input(image, trimap), protocols.indexnet_demo_input(image, trimap)
    )
    half = protocols.dim_demo_input(image, trimap, 0.5)
    assert half.shape == (1, 4, 128, 160)


@pytest.mark.parametrize("prefix", ["module.", ""])
def test_released_layout_loads_with_or_without_module_prefix(tmp_path, prefix):
    path = save_dm(tmp_path / "deep_matting.pth.tar", prefix=prefix)
    lines = []
    nets, config = C.load_nets(path, log=lines.append)
    assert isinstance(nets.matting, DeepMatting) and nets.harmonization is None
    assert config["net_arch"] == {"matting": {"net": "dim", "width": 0.0625}}
    assert "Deep Image Matting .pth.tar -> matting (net dim, width 0.0625): 107 tensors" in lines[0]
    assert "ignored best_pred, epoch" in lines[0]
    raw = torch.load(path, weights_only=True)["state_dict"]
    assert all(torch.equal(nets.matting.state_dict()[k.removeprefix(prefix)], v) for k, v in raw.items())


@pytest.mark.parametrize("key", ["bn53.running_var", "alpha_pred.bias", "conv11.weight"])
def test_a_missing_key_is_one_line_naming_file_and_key(tmp_path, key):
    path = save_dm(tmp_path / "dm.pth.tar", drop=(key,))
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(tmp_path / "p.png")
    Image.fromarray(np.full((40, 50), 128, np.uint8)).save(tmp_path / "t.png")
    result = invoke(
        "matte", "--ckpt", path, "--image", tmp_path / "p.png", "--trimap", tmp_path / "t.png",
        "--out", tmp_path / "a.png",
    )  # fmt: skip
    line = one_line_error(result)
    assert str(path) in line and key in line and "Deep Image Matting" in line
    assert not (tmp_path / "a.png").exists()


def vgg16_bn_like(width: float, seed: int = 0) -> dict:
    """A state dict in torchvision's ``vgg16_bn`` layout with channels scaled by ``width``
    (random values; the real file is width 1.0, 138 M parameters)."""
    g = torch.Generator().manual_seed(seed)
    state, prev, index = {}, 3, 0
    for channels, convs in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):
        out = max(1, int(channels * width))
        for _ in range(convs):
            state[f"features.{index}.weight"] = torch.randn(out, prev, 3, 3, generator=g)
            state[f"features.{index}.bias"] = torch.randn(out, generator=g)
            for leaf in ("weight", "bias", "running_mean", "running_var"):
                state[f"features.{index + 1}.{leaf}"] = torch.rand(out, generator=g) + 0.5
            prev, index = out, index + 3
        index += 1  # the max pooling
    fc6 = max(1, int(4096 * width))
    state["classifier.0.weight"] = torch.randn(fc6, prev * 49, generator=g)
    state["classifier.0.bias"] = torch.randn(fc6, generator=g)
    state["classifier.3.weight"] = torch.randn(fc6, fc6, generator=g)
    return state


def test_imagenet_vgg16_bn_weights_map_as_the_official_code_maps_them(tmp_path):
    from hmh_train.nets.backbone import load_backbone_weights

    state = vgg16_bn_like(0.0625)
    torch.save(state, tmp_path / "vgg16_bn.pth")
    net = DeepMatting(0.0625)
    report = load_backbone_weights(net, tmp_path / "vgg16_bn.pth")
    assert report.layout == "torchvision vgg16_bn" and not report.missing
    assert len(report.loaded) == 13 * 6 + 2 and report.unused == ["classifier.3.weight"]
    assert torch.equal(net.conv11.weight[:, :3], state["features.0.weight"])
    assert not net.conv11.weight[:, 3].any()  # the trimap filters start at zero
    assert torch.equal(net.bn53.running_var, state["features.41.running_var"])
    assert torch.equal(net.conv6.weight, state["classifier.0.weight"].view(256, 32, 7, 7))
    with pytest.raises(ValueError, match="vgg16_bn.pth: shape mismatch"):
        load_backbone_weights(DeepMatting(0.125), tmp_path / "vgg16_bn.pth")
    torch.save({"features.0.0.weight": torch.zeros(2, 3, 3, 3)}, tmp_path / "mobilenet.pth")
    with pytest.raises(ValueError, match="mobilenet.pth: not torchvision's vgg16_bn"):
        load_backbone_weights(net, tmp_path / "mobilenet.pth")
