"""The harmonizer's output forms (``forward.HARMONIZER_OUTPUTS``): pixels the form keeps stay
exactly the input, every path (training steps, any-size inference, DoveNet's protocol) uses
the same form, gradients reach both generators, and each form can be trained."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hmh_train.infer.ops import harmonize_any_size
from hmh_train.infer.protocols import dovenet_harmonize
from hmh_train.nets import build_harmonization_net
from hmh_train.nets.forward import (
    HARMONIZER_OUTPUTS,
    check_output_form,
    finish_harmonized,
    harmonize,
    harmonizer_proposal,
    region_mask,
)
from hmh_train.train.config import HARMONIZER_OUTPUTS as CONFIG_OUTPUTS
from hmh_train.train.steps import (
    Nets,
    Optimizers,
    StepConfig,
    frozen,
    generate,
    generator_losses,
    harmonization_step,
    joint_step,
)

from .test_steps import grads, make_batch, make_nets, make_optims, nonzero

KEEPING = ("keep", "residual")


def soft_mask(n=2, size=32):
    """(n,1,size,size) in [0, 1]: exact zeros on the left third, exact ones on the right
    third, soft values between (an alpha edge)."""
    ramp = torch.linspace(-1.0, 2.0, size).clamp(0, 1).view(1, 1, 1, size)
    return ramp.expand(n, 1, size, size).contiguous()


def unet(seed=0, num_downs=5):
    torch.manual_seed(seed)
    return build_harmonization_net(0.125, num_downs=num_downs).eval()


def test_config_offers_the_networks_forms():
    assert CONFIG_OUTPUTS == HARMONIZER_OUTPUTS == ("paper", "keep", "residual")


@pytest.mark.parametrize("output", KEEPING)
def test_kept_pixels_equal_the_input_exactly(output):
    net, mask = unet(), soft_mask()
    composite = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out = harmonize(net, composite, mask, output)
        plain = harmonize(net, composite, mask, "paper")
    zero = (mask == 0).expand_as(composite)
    assert zero.any() and torch.equal(out[zero], composite[zero])
    assert not torch.equal(plain[zero], composite[zero])  # the paper form regenerates them
    inside = (mask == 1).expand_as(composite)  # where M = 1: the network's picture
    proposal = harmonizer_proposal(net, composite, mask, output)
    torch.testing.assert_close(out[inside], proposal.detach()[inside])
    torch.testing.assert_close(out, mask * proposal.detach() + (1 - mask) * composite)


def test_residual_adds_the_networks_change_and_keep_uses_its_image():
    net, mask = unet(), soft_mask()
    composite = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        y = net(torch.cat((composite * 2 - 1, mask), dim=1))
        torch.testing.assert_close(harmonize(net, composite, mask, "paper"), (y + 1) / 2)
        torch.testing.assert_close(
            harmonize(net, composite, mask, "keep"), mask * (y + 1) / 2 + (1 - mask) * composite
        )
        torch.testing.assert_close(harmonize(net, composite, mask, "residual"), composite + mask * y)
    with pytest.raises(ValueError, match="harmonizer output must be one of"):
        harmonize(net, composite, mask, "blend")


@pytest.mark.parametrize("output", KEEPING)
def test_any_size_inference_keeps_the_full_resolution_input(output):
    net, composite = unet(num_downs=5), torch.rand(1, 3, 50, 70, generator=torch.Generator().manual_seed(3))
    mask = soft_mask(1, 70)[..., :50, :]
    with torch.no_grad():
        out = harmonize_any_size(net, composite, mask, work_side=32, output=output)
        same = harmonize_any_size(net, composite[..., :32, :32], mask[..., :32, :32], output=output)
        direct = harmonize(net, composite[..., :32, :32], mask[..., :32, :32], output).clamp(0, 1)
    zero = (mask == 0).expand_as(composite)
    assert out.shape == composite.shape and torch.equal(out[zero], composite[zero])
    torch.testing.assert_close(same, direct, rtol=0, atol=0)  # native size: exactly harmonize


@pytest.mark.parametrize("output", HARMONIZER_OUTPUTS)
def test_dovenet_protocol_in_each_form(output):
    net = unet(num_downs=5)
    rng = np.random.default_rng(4)
    composite = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)
    mask = np.zeros((48, 40), np.uint8)
    mask[:, 20:] = 255
    mask[:, 18:20] = 128  # a grey edge: blends in keep forms
    for size in (32, 64):
        out = dovenet_harmonize(net, composite, mask, size, output)
        assert out.shape == composite.shape and out.dtype == np.uint8
        if output != "paper":
            np.testing.assert_array_equal(out[mask == 0], composite[mask == 0])
    paper_small = dovenet_harmonize(net, composite[:32, :32], np.full((32, 32), 255, np.uint8), 32)
    kept = dovenet_harmonize(net, composite[:32, :32], np.full((32, 32), 255, np.uint8), 32, "keep")
    np.testing.assert_array_equal(kept, paper_small)  # M = 1: the paper form's image itself


def test_check_output_form_allows_only_the_same_reading():
    assert check_output_form(None, None) == "paper"  # unrecorded: the plain image
    assert check_output_form(None, "residual") == "residual"
    assert check_output_form("keep", "paper") == "keep"  # DoveNet's file, kept region
    assert check_output_form("paper", "keep") == "paper"
    for requested, trained in (("residual", "paper"), ("keep", "residual")):
        with pytest.raises(ValueError, match="cannot run as"):
            check_output_form(requested, trained, "run.pt")


@pytest.mark.parametrize("output", HARMONIZER_OUTPUTS)
def test_gradients_reach_both_generators_in_each_form(output):
    batch, nets = make_batch(), make_nets()
    nets.harmonizer_output = output
    fakes = generate(nets, batch, StepConfig())
    zero = (region_mask(fakes.alpha.detach()) == 0).expand_as(fakes.harmonized)
    if output != "paper":  # the critic's I_h fake is the kept image too
        composite_in = fakes.alpha.detach() * batch.image + (1 - fakes.alpha.detach()) * batch.disharmonious
        assert torch.equal(fakes.harmonized.detach()[zero], composite_in[zero])
    with frozen(nets.discriminator):
        losses = generator_losses(nets.discriminator, fakes, batch, StepConfig())
        losses["total"].backward()
    assert nonzero(grads(nets.matting)) and nonzero(grads(nets.harmonization))
    assert all(g is None for g in grads(nets.discriminator))


@pytest.mark.parametrize("output", HARMONIZER_OUTPUTS)
def test_joint_step_trains_both_generators_in_each_form(output):
    batch, nets = make_batch(), make_nets()
    nets.harmonizer_output = output
    before = {
        n: [p.detach().clone() for p in getattr(nets, n).parameters()] for n in ("matting", "harmonization")
    }
    logs = joint_step(nets, make_optims(nets), batch, StepConfig())
    assert all(np.isfinite(v) for v in logs.values())
    for name, params in before.items():
        assert any(
            not torch.equal(a, b) for a, b in zip(params, getattr(nets, name).parameters(), strict=False)
        ), name


@pytest.mark.parametrize("output", HARMONIZER_OUTPUTS)
def test_overfitting_each_form_drives_the_harmonization_loss_down(output):
    batch = make_batch(n=2, seed=5)
    torch.manual_seed(0)
    net = build_harmonization_net(0.125, num_downs=5)
    nets = Nets(harmonization=net, harmonizer_output=output)
    optims = Optimizers(harmonization=torch.optim.Adam(net.parameters(), 2e-3))
    losses = [harmonization_step(nets, optims, batch, StepConfig())["loss_gh"] for _ in range(60)]
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    assert last < 0.5 * first, (output, first, last)


def test_finish_harmonized_broadcasts_channels_last():
    composite = torch.rand(6, 5, 3)
    proposal = torch.rand(6, 5, 3)
    mask = torch.zeros(6, 5, 1)
    mask[:, 3:] = 1
    out = finish_harmonized(proposal, composite, mask, "keep")
    assert torch.equal(out[:, :3], composite[:, :3]) and torch.equal(out[:, 3:], proposal[:, 3:])
    assert finish_harmonized(proposal, composite, mask, "paper") is proposal
