"""DIH (``hmh_train.nets.dih``) against the TensorFlow graph of the iHarmony4 repository
(``tests/fixtures/dih/``, see its README), its layer layout, and its place among harmonizers."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hmh_train.infer.ops import harmonize_any_size
from hmh_train.nets import build_harmonization_net, build_net, count_parameters
from hmh_train.nets.dih import DIH, FrozenStatsNorm, state_from_tf, tf_names
from hmh_train.nets.forward import harmonize

from .test_official import ANCHORS, needs_anchors

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "dih"


def load_fixture_script():
    """``tests/fixtures/dih/make_fixture.py`` as a module: the test rebuilds the weights with the
    very recipe that made the fixture (TensorFlow is imported only inside its ``main``)."""
    spec = importlib.util.spec_from_file_location("dih_make_fixture", FIXTURE / "make_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: The fixture's seeded weights (README: the recipe), {TensorFlow name: float32 array}.
recipe = load_fixture_script().recipe


def fixture_variables() -> dict:
    return json.loads((FIXTURE / "variables.json").read_text())


def anchor_input() -> torch.Tensor:
    """(1, 4, 256, 256): the RGB composite in [−1, 1] and the mask in [0, 1]."""
    rgb = np.asarray(Image.open(ANCHORS / "dovenet" / "composite.png").convert("RGB"), np.float32)
    mask = np.asarray(Image.open(ANCHORS / "dovenet" / "mask.png"), np.float32)
    image = torch.from_numpy((rgb - 127.5) / 127.5).permute(2, 0, 1)[None]
    return torch.cat((image, torch.from_numpy(mask / 255.0)[None, None]), dim=1).float()


def test_tf_names_cover_the_graph_in_its_order_and_our_state_exactly():
    listed = [name for name, _ in fixture_variables()["variables"]]
    assert [tf for tf, _ in tf_names()] == listed  # every variable of the graph, in its order
    ours = [k for k in DIH().state_dict() if not k.endswith("num_batches_tracked")]
    assert sorted(key for _, key in tf_names()) == sorted(ours)


def test_layer_shapes_and_parameter_count_equal_the_graph():
    spec = fixture_variables()["variables"]
    net = DIH()
    state = state_from_tf({name: np.zeros(shape, np.float32) for name, shape in spec})
    own = net.state_dict()
    assert all(own[k].shape == v.shape for k, v in state.items())
    trainable = sum(int(np.prod(s)) for n, s in spec if not n.endswith(("moving_mean", "moving_variance")))
    assert count_parameters(net) == trainable == 8_268_800
    assert sum(int(np.prod(s)) for _, s in spec) == 8_272_384


@needs_anchors
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_dih_reproduces_the_tensorflow_graph(mode):
    spec = fixture_variables()
    net = DIH()
    net.load_state_dict(state_from_tf(recipe(spec["variables"], spec["seed"], spec["gain"])))
    getattr(net, mode)()  # the graph's batch norms use stored statistics in training too
    with torch.no_grad():
        ours = net(anchor_input())[0].permute(1, 2, 0).numpy()
    graph = np.load(FIXTURE / "tf_output.npz")["output_bgr"][0][:, :, ::-1]  # BGR → RGB
    assert ours.shape == graph.shape == (256, 256, 3)
    assert 0.05 < float(np.mean(np.abs(graph) == 1.0)) < 0.2  # both clipped and free values
    assert np.abs(ours - graph).max() <= 1e-4


def test_batch_norm_statistics_stay_fixed_in_training():
    net = DIH(width=0.25, size=64).train()
    before = {k: v.clone() for k, v in net.state_dict().items() if "running" in k}
    x = torch.rand(2, 4, 64, 64) * 2 - 1
    net(x).sum().backward()
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items() if "running" in k)
    norm = next(m for m in net.modules() if isinstance(m, FrozenStatsNorm))
    assert norm.weight.grad is not None  # γ and β still learn


def test_colour_order_is_rgb_outside_and_bgr_inside():
    """Reversing the first conv's colour filters and the output filters equals feeding BGR: the
    weights keep the graph's (BGR) meaning."""
    torch.manual_seed(0)
    net = DIH(width=0.25, size=64).eval()
    x = torch.rand(1, 4, 64, 64) * 2 - 1
    with torch.no_grad():
        y = net(x)
        swapped = DIH(width=0.25, size=64).eval()
        state = net.state_dict()
        first = state["encoder.0.conv.weight"].clone()
        first[:, :3] = first[:, [2, 1, 0]]
        state["encoder.0.conv.weight"] = first
        state["output.weight"] = state["output.weight"][:, [2, 1, 0]]
        swapped.load_state_dict(state)
        z = swapped(torch.cat((x[:, [2, 1, 0]], x[:, 3:]), 1))[:, [2, 1, 0]]
    assert torch.allclose(y, z, atol=1e-6)


def test_factory_arch_round_trip_and_sizes():
    net = build_harmonization_net(width=0.25, net="dih", size=128)
    assert isinstance(net, DIH) and net.arch == {"net": "dih", "width": 0.25, "size": 128}
    again = build_net("harmonization", net.arch)
    assert isinstance(again, DIH) and again.fc7.kernel_size == (2, 2)
    assert DIH().fc7.kernel_size == (4, 4) and DIH().decoder[0].conv.kernel_size == (4, 4)
    with pytest.raises(ValueError, match="multiple of 64"):
        DIH(size=100)
    with pytest.raises(ValueError, match="64×64 input"):
        DIH(width=0.25, size=64)(torch.zeros(1, 4, 128, 128))
    with pytest.raises(ValueError, match="harmonizer must be one of"):
        build_harmonization_net(net="resnet")


def test_any_size_runs_dih_at_its_own_side_in_every_output_form():
    torch.manual_seed(1)
    net = DIH(width=0.25, size=64).eval()
    composite, mask = torch.rand(1, 3, 96, 80), (torch.rand(1, 1, 96, 80) > 0.5).float()
    for form in ("paper", "keep", "residual"):
        out = harmonize_any_size(net, composite, mask, output=form)
        assert out.shape == (1, 3, 96, 80) and 0 <= out.min() and out.max() <= 1
        if form != "paper":  # where the mask is 0 the composite stays exactly
            assert torch.equal(out * (1 - mask), composite * (1 - mask))
    same = harmonize_any_size(net, composite[..., :64, :64], mask[..., :64, :64])
    assert torch.equal(same, harmonize(net, composite[..., :64, :64], mask[..., :64, :64]).clamp(0, 1))


def test_converted_weights_become_a_checkpoint_every_command_takes(tmp_path):
    """The docs' recipe for a TensorFlow checkpoint: variables → state_from_tf → weights_checkpoint."""
    from hmh_train.nets.forward import Nets
    from hmh_train.train import checkpoint as C

    spec = fixture_variables()
    np.savez(tmp_path / "dih_tf.npz", **recipe(spec["variables"], spec["seed"], spec["gain"]))
    net = DIH()
    net.load_state_dict(state_from_tf(dict(np.load(tmp_path / "dih_tf.npz"))))
    config = {"harmonizer_output": "paper", "altered": None}
    C.atomic_save(C.weights_checkpoint(Nets(harmonization=net), config), str(tmp_path / "dih.pt"))
    nets, loaded = C.load_nets(tmp_path / "dih.pt")
    assert isinstance(nets.harmonization, DIH) and nets.harmonizer_output == "paper"
    assert C.trained_side(loaded) is None  # takes a mask of either side, like DoveNet's file
    x = torch.rand(1, 4, 256, 256) * 2 - 1
    with torch.no_grad():
        assert torch.equal(nets.harmonization(x), net.eval()(x))


def test_summary_command_lists_dih():
    from tests.train.cli_helpers import invoke

    result = invoke("summary", "--harmonizer", "dih", "--width", "0.25", "--size", "64")
    assert result.exit_code == 0, result.output
    line = next(li for li in result.output.splitlines() if li.startswith("harmonization (DIH)"))
    assert f"{count_parameters(DIH(width=0.25, size=64)):,}" in line and "(1, 3, 64, 64)" in line
    result = invoke("summary", "--harmonizer", "dih", "--size", "96")
    assert result.exit_code == 1 and "multiple of 32 and of 64 (DIH)" in result.output


def test_a_zero_output_layer_changes_nothing_in_the_residual_form():
    torch.manual_seed(2)
    net = DIH(width=0.25, size=64).eval()
    with torch.no_grad():
        net.output_layer().weight.zero_()
    composite, mask = torch.rand(2, 3, 64, 64), (torch.rand(2, 1, 64, 64) > 0.5).float()
    assert torch.equal(harmonize(net, composite, mask, "residual"), composite)
