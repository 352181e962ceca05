"""Issue 20.1: a fresh harmonizer in the ``residual`` form starts as "change nothing" (its
untrained output is its input, bit for bit, on every path), still learns, and ``eval``
reports per-image "no harm" figures beside the means."""

from __future__ import annotations

import json

import pytest
import torch

from hmh_train.evaluate.report import NO_HARM_TOLERANCE_DB, no_harm_figures
from hmh_train.evaluate.run import EvalConfig, evaluate
from hmh_train.infer.ops import harmonize_any_size
from hmh_train.nets.forward import harmonize
from hmh_train.nets.init import INITS
from hmh_train.train.distributed import Runtime
from hmh_train.train.engine import build_nets
from hmh_train.train.steps import Optimizers, StepConfig, harmonization_step

from .conftest import small_config
from .test_output_forms import soft_mask
from .test_steps import make_batch


def _fresh(tmp_path, output="residual", init="published"):
    cfg = small_config("harmonization", tmp_path, tmp_path / "run", harmonizer_output=output, init=init)
    return build_nets(cfg, Runtime(torch.device("cpu")))


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("train_mode", [True, False])
def test_untrained_residual_harmonizer_returns_its_input_bit_for_bit(tmp_path, init, train_mode):
    net = _fresh(tmp_path, init=init).harmonization.train(train_mode)
    torch.manual_seed(1)
    composite, mask = torch.rand(2, 3, 64, 64), soft_mask(2, 64)
    with torch.no_grad():
        assert torch.equal(harmonize(net, composite, mask, "residual"), composite)
        # the any-size path (U-Net at another working size, change resized back) too
        odd = torch.rand(1, 3, 50, 70)
        assert torch.equal(
            harmonize_any_size(net, odd, soft_mask(1, 70)[..., :50, :], output="residual"), odd
        )


def test_other_forms_and_loaded_nets_are_not_zeroed(tmp_path):
    paper = _fresh(tmp_path, output="paper").harmonization
    assert paper.output_layer().weight.abs().sum() > 0
    composite, mask = torch.rand(1, 3, 64, 64), soft_mask(1, 64)
    with torch.no_grad():
        assert not torch.equal(harmonize(paper.eval(), composite, mask, "paper"), composite)


def test_identity_start_still_learns():
    """The zero layer's input is not zero, so its gradient is not: one step moves it and the
    output changes (the layers before it follow from the next step on)."""
    torch.manual_seed(0)
    from hmh_train.nets import build_harmonization_net
    from hmh_train.nets.init import start_fresh
    from hmh_train.train.steps import Nets

    net = start_fresh(build_harmonization_net(0.125, num_downs=5), "published", "residual")
    nets = Nets(harmonization=net, harmonizer_output="residual")
    optims = Optimizers(harmonization=torch.optim.Adam(net.parameters(), 1e-3))
    batch = make_batch(n=2, seed=3)
    first = harmonization_step(nets, optims, batch, StepConfig())["loss_gh"]
    assert net.output_layer().weight.abs().sum() > 0
    losses = [harmonization_step(nets, optims, batch, StepConfig())["loss_gh"] for _ in range(30)]
    assert min(losses) < first


def test_no_harm_figures_literal_values():
    rows = [
        {"harm_psnr": 30.0, "identity_psnr": 28.0},  # +2 dB
        {"harm_psnr": 25.0, "identity_psnr": 25.0},  # unchanged: not harmed
        {"harm_psnr": 20.0, "identity_psnr": 21.5},  # −1.5 dB
        {"harm_psnr": 24.0, "identity_psnr": 24.0 + NO_HARM_TOLERANCE_DB / 2},  # float rounding only
        {"harm_psnr": float("inf"), "identity_psnr": float("inf")},  # both exact
    ]
    figures = no_harm_figures(rows)
    assert figures == {"harm_no_harm": 4 / 5, "harm_worst_loss_db": 1.5}
    gained = no_harm_figures([{"harm_psnr": 31.0, "identity_psnr": 30.0}])
    assert gained == {"harm_no_harm": 1.0, "harm_worst_loss_db": -1.0}
    assert no_harm_figures([{"alpha_mse": 0.1}]) == {}


def test_eval_of_an_untrained_residual_run_reports_no_harm(shards, tmp_path):
    """An untrained residual harmonizer scores exactly the identity row (up to the float32
    output's rounding): no harm on every image, next to the means in table.md and summary.json."""
    from hmh_train.train import checkpoint as C

    net = _fresh(tmp_path).harmonization
    ckpt = tmp_path / "run" / "checkpoints" / "last.pt"
    payload = {
        "format": C.CKPT_FORMAT,
        "version": C.CKPT_VERSION,
        "nets": {"harmonization": net.state_dict()},
        "net_arch": {"harmonization": net.arch},
        "config": {"mode": "harmonization", "harmonizer_output": "residual"},
    }
    C.atomic_save(payload, str(ckpt))
    result = evaluate(
        EvalConfig(runs=(str(ckpt),), shards=str(shards), out=str(tmp_path / "ev"), progress=False)
    )
    summary = next(iter(result["runs"].values()))
    assert summary["harm_no_harm"] == 1.0
    assert summary["harm_worst_loss_db"] <= NO_HARM_TOLERANCE_DB
    assert summary["harm_psnr"] == pytest.approx(summary["identity_psnr"], abs=1e-4)
    saved = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert next(iter(saved["runs"].values()))["harm_no_harm"] == 1.0
    header = [c.strip() for c in result["table"].splitlines()[2].strip("|").split("|")]
    assert header[-2:] == ["no harm", "worst loss dB"]
    assert "| 100% |" in result["table"]


@pytest.mark.parametrize("init", INITS)
def test_untrained_residual_dih_returns_its_input_bit_for_bit(init):
    """DIH offers ``output_layer()`` too: the same identity start, through the same function."""
    from hmh_train.nets import build_harmonization_net
    from hmh_train.nets.init import start_fresh

    torch.manual_seed(0)
    net = start_fresh(build_harmonization_net(0.125, net="dih", size=64), init, "residual").eval()
    composite, mask = torch.rand(2, 3, 64, 64), soft_mask(2, 64)
    with torch.no_grad():
        assert torch.equal(harmonize(net, composite, mask, "residual"), composite)
