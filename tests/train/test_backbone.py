"""ImageNet MobileNetV2 weights → IndexNet encoder, from fake torchvision/timm state dicts.

The fake state dicts are built here from the published layouts of torchvision's
``mobilenet_v2`` (features.0 stem, features.1–17 inverted residuals, features.18 head conv,
classifier.1) and timm's ``mobilenetv2_100`` (conv_stem/bn1, blocks.0–6, conv_head/bn2,
classifier), independently of hmh_train.nets.backbone's own tables.
"""

import pytest
import torch

from hmh_train.nets import build_matting_net, load_backbone_weights

# (t, c, n) of MobileNetV2 (Sandler et al. 2018, Table 2)
SETTINGS = [(1, 16, 1), (6, 24, 2), (6, 32, 3), (6, 64, 4), (6, 96, 3), (6, 160, 3), (6, 320, 1)]


def _bn(prefix, c):
    return {
        f"{prefix}.weight": (c,),
        f"{prefix}.bias": (c,),
        f"{prefix}.running_mean": (c,),
        f"{prefix}.running_var": (c,),
        f"{prefix}.num_batches_tracked": (),
    }


def torchvision_shapes():
    s = {"features.0.0.weight": (32, 3, 3, 3), **_bn("features.0.1", 32)}
    inp, i = 32, 1
    for t, c, n in SETTINGS:
        for _ in range(n):
            h, p = inp * t, f"features.{i}.conv"
            if t == 1:
                s |= {
                    f"{p}.0.0.weight": (h, 1, 3, 3),
                    **_bn(f"{p}.0.1", h),
                    f"{p}.1.weight": (c, h, 1, 1),
                    **_bn(f"{p}.2", c),
                }
            else:
                s |= {
                    f"{p}.0.0.weight": (h, inp, 1, 1),
                    **_bn(f"{p}.0.1", h),
                    f"{p}.1.0.weight": (h, 1, 3, 3),
                    **_bn(f"{p}.1.1", h),
                    f"{p}.2.weight": (c, h, 1, 1),
                    **_bn(f"{p}.3", c),
                }
            inp, i = c, i + 1
    s |= {
        "features.18.0.weight": (1280, 320, 1, 1),
        **_bn("features.18.1", 1280),
        "classifier.1.weight": (1000, 1280),
        "classifier.1.bias": (1000,),
    }
    return s


def timm_shapes():
    s = {"conv_stem.weight": (32, 3, 3, 3), **_bn("bn1", 32)}
    inp = 32
    for si, (t, c, n) in enumerate(SETTINGS):
        for j in range(n):
            h, p = inp * t, f"blocks.{si}.{j}"
            if t == 1:
                s |= {
                    f"{p}.conv_dw.weight": (h, 1, 3, 3),
                    **_bn(f"{p}.bn1", h),
                    f"{p}.conv_pw.weight": (c, h, 1, 1),
                    **_bn(f"{p}.bn2", c),
                }
            else:
                s |= {
                    f"{p}.conv_pw.weight": (h, inp, 1, 1),
                    **_bn(f"{p}.bn1", h),
                    f"{p}.conv_dw.weight": (h, 1, 3, 3),
                    **_bn(f"{p}.bn2", h),
                    f"{p}.conv_pwl.weight": (c, h, 1, 1),
                    **_bn(f"{p}.bn3", c),
                }
            inp = c
    s |= {
        "conv_head.weight": (1280, 320, 1, 1),
        **_bn("bn2", 1280),
        "classifier.weight": (1000, 1280),
        "classifier.bias": (1000,),
    }
    return s


def fake_state(shapes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        k: (torch.tensor(7) if k.endswith("num_batches_tracked") else torch.rand(shape, generator=g) + 0.1)
        for k, shape in shapes.items()
    }


@pytest.fixture(scope="module")
def tv_state():
    return fake_state(torchvision_shapes())


def test_torchvision_layout_loads_every_encoder_tensor(tmp_path, tv_state):
    path = tmp_path / "mobilenet_v2.pth"
    torch.save(tv_state, path)
    net = build_matting_net()
    report = load_backbone_weights(net, path)
    assert report.layout == "torchvision"
    assert report.missing == []
    n_units = 1 + 2 + 3 * 16  # stem + first block (2 units) + 16 expanded blocks (3 units)
    assert len(report.loaded) == n_units * 6  # conv weight + 5 BN tensors
    assert sorted(report.unused) == sorted(k for k in tv_state if k.startswith(("features.18", "classifier")))
    # our encoder uses the official IndexNet names (its CORRESP_NAME table: features.N ->
    # layerK.J.conv.I); e.g. features.1.conv.0.0 (dw) -> layer1.0.conv.0, features.9 -> layer4.2
    w = net.layer0[0].weight
    torch.testing.assert_close(w[:, :3], tv_state["features.0.0.weight"])
    assert (w[:, 3] == 0).all()
    torch.testing.assert_close(net.layer0[1].running_var, tv_state["features.0.1.running_var"])
    first = net.layer1[0].conv
    torch.testing.assert_close(first[0].weight, tv_state["features.1.conv.0.0.weight"])
    torch.testing.assert_close(first[4].bias, tv_state["features.1.conv.2.bias"])
    last = net.layer7[0].conv
    torch.testing.assert_close(last[6].weight, tv_state["features.17.conv.2.weight"])
    torch.testing.assert_close(
        net.layer4[2].conv[1].running_mean, tv_state["features.9.conv.0.1.running_mean"]
    )
    assert int(net.layer0[1].num_batches_tracked) == 7
    assert "layer2.1.conv.3.weight" in report.loaded


def test_timm_layout_loads_same_encoder(tmp_path):
    state = fake_state(timm_shapes(), seed=1)
    path = tmp_path / "mobilenetv2_100.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}}, path)
    net = build_matting_net()
    report = load_backbone_weights(net, path)
    assert report.layout == "timm" and report.missing == []
    torch.testing.assert_close(net.layer0[0].weight[:, :3], state["conv_stem.weight"])
    torch.testing.assert_close(net.layer2[1].conv[3].weight, state["blocks.1.1.conv_dw.weight"])
    torch.testing.assert_close(net.layer7[0].conv[7].weight, state["blocks.6.0.bn3.weight"])
    assert "conv_head.weight" in report.unused


def test_loaded_net_still_runs(tmp_path, tv_state):
    path = tmp_path / "w.pth"
    torch.save(tv_state, path)
    net = build_matting_net()
    load_backbone_weights(net, path)
    with torch.no_grad():
        assert torch.isfinite(net.eval()(torch.randn(1, 4, 32, 32))).all()


def test_partial_file_reports_missing(tmp_path, tv_state):
    state = {k: v for k, v in tv_state.items() if not k.startswith("features.17.")}
    path = tmp_path / "w.pth"
    torch.save(state, path)
    report = load_backbone_weights(build_matting_net(), path)
    assert len(report.missing) == 3 * 6
    assert all(name.startswith("layer7.0.") for name in report.missing)


def test_width_mismatch_is_clear_error(tmp_path, tv_state):
    path = tmp_path / "w.pth"
    torch.save(tv_state, path)
    with pytest.raises(ValueError, match="w.pth: shape mismatch"):
        load_backbone_weights(build_matting_net(0.5), path)


def test_unknown_layout_and_bad_files(tmp_path):
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, path)
    with pytest.raises(ValueError, match="resnet.pth: unknown MobileNetV2 key layout"):
        load_backbone_weights(build_matting_net(0.25), path)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk.pth: not a PyTorch checkpoint \(a text file\)"):
        load_backbone_weights(build_matting_net(0.25), junk)
    with pytest.raises(ValueError, match="not found"):
        load_backbone_weights(build_matting_net(0.25), tmp_path / "absent.pth")
