"""Training steps: gradient routing of Eq. 1–5, critic freezing/detaching, overfitting."""

import pytest
import torch

from hmh_train.data.augment import Batch, trimap_from_alpha
from hmh_train.nets import build_discriminator, build_harmonization_net, build_matting_net
from hmh_train.nets.forward import region_mask
from hmh_train.train import steps as steps_module
from hmh_train.train.steps import (
    Nets,
    Optimizers,
    StepConfig,
    critic_step,
    frozen,
    generate,
    generator_losses,
    harmonization_step,
    harmonize,
    joint_step,
    matting_step,
    predict_alpha,
)

SIZE = 32


def make_batch(n=2, size=SIZE, seed=0) -> Batch:
    """Soft-edged disk portraits: smooth colour foreground over a gradient background."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    alphas, fgs, bgs = [], [], []
    for _ in range(n):
        cy, cx = (torch.rand(2, generator=g) * 0.3 + 0.35) * size
        r = size * 0.25
        d = ((yy - cy) ** 2 + (xx - cx) ** 2).sqrt()
        alphas.append(((r + 3 - d) / 6).clamp(0, 1)[None])
        fgs.append(torch.rand(3, 1, 1, generator=g) * 0.6 + 0.2 + 0.1 * torch.sin(xx / 3.0))
        bgs.append(torch.rand(3, 1, 1, generator=g) * (yy / size) + 0.1)
    a, fg, bg = torch.stack(alphas), torch.stack(fgs).clamp(0, 1), torch.stack(bgs).clamp(0, 1)
    image = a * fg + (1 - a) * bg
    bg_t = (bg * 0.5 + 0.4).clamp(0, 1)
    return Batch(
        image=image,
        alpha=a,
        background=bg,
        disharmonious=a * image + (1 - a) * bg_t,
        trimap=trimap_from_alpha(a, 2),
    )


def make_nets(seed=0) -> Nets:
    torch.manual_seed(seed)
    return Nets(
        matting=build_matting_net(0.125),
        harmonization=build_harmonization_net(0.125, num_downs=5),
        discriminator=build_discriminator(0.125),
    )


def make_optims(nets, lr=1e-3, d_lr=1e-3) -> Optimizers:
    return Optimizers(
        matting=torch.optim.Adam(nets.matting.parameters(), lr),
        harmonization=torch.optim.Adam(nets.harmonization.parameters(), lr),
        discriminator=torch.optim.Adam(nets.discriminator.parameters(), d_lr, betas=(0.0, 0.9)),
    )


def grads(net):
    return [p.grad for p in net.parameters()]


def nonzero(gs):
    return any(g is not None and g.abs().sum() > 0 for g in gs)


def test_predict_alpha_pastes_known_regions_and_clamps():
    batch, nets = make_batch(), make_nets()
    a_r = predict_alpha(nets.matting.eval(), batch.image, batch.trimap)
    known = (batch.trimap == 0) | (batch.trimap == 1)
    assert torch.equal(a_r[known], batch.trimap[known])
    assert a_r.min() >= 0 and a_r.max() <= 1 and a_r.shape == batch.alpha.shape
    odd = make_batch(size=40)  # not a multiple of 32: resized inside
    assert predict_alpha(nets.matting, odd.image, odd.trimap).shape == (2, 1, 40, 40)


def test_harmonize_range_and_shape():
    batch, nets = make_batch(), make_nets()
    out = harmonize(nets.harmonization, batch.disharmonious, batch.alpha)
    assert out.shape == batch.image.shape and out.min() >= 0 and out.max() <= 1


def test_adversarial_gradient_reaches_indexnet_only_through_composite():
    batch, nets, cfg = make_batch(), make_nets(), StepConfig()
    fakes = generate(nets, batch, cfg)
    with frozen(nets.discriminator):
        losses = generator_losses(nets.discriminator, fakes, batch, cfg)
        losses["adv_gm"].backward(retain_graph=True)
    assert nonzero(grads(nets.matting))
    assert not nonzero(grads(nets.harmonization))
    assert all(g is None for g in grads(nets.discriminator))
    # harmonization terms never reach IndexNet (A_r is detached at the U-Net input)
    nets.matting.zero_grad(set_to_none=True)
    (losses["adv_gh"] + losses["loss_gh"]).backward()
    assert not nonzero(grads(nets.matting))
    assert nonzero(grads(nets.harmonization))


def test_adversarial_gradient_vanishes_when_composite_detached():
    batch, nets, cfg = make_batch(), make_nets(), StepConfig()
    fakes = generate(nets, batch, cfg)
    fakes.composite = fakes.composite.detach()
    with frozen(nets.discriminator):
        generator_losses(nets.discriminator, fakes, batch, cfg)["adv_gm"].backward()
    assert not nonzero(grads(nets.matting))


def _indexnet_grads(lambda1, term="total"):
    batch, nets = make_batch(), make_nets()
    for p in nets.discriminator.parameters():  # a non-trivial critic
        p.data.add_(0.05 * torch.randn_like(p))
    for attn in nets.discriminator.attention:
        attn.gamma.data.fill_(0.5)
    nets.matting.eval()  # no dropout: identical forwards
    cfg = StepConfig(lambda1=lambda1)
    with frozen(nets.discriminator):
        losses = generator_losses(nets.discriminator, generate(nets, batch, cfg), batch, cfg)
        losses[term].backward()
    return [p.grad.clone() for p in nets.matting.parameters()]


def test_lambda1_scales_adversarial_gradient_into_indexnet():
    only_l1 = _indexnet_grads(0.0, "loss_gm")
    zero = _indexnet_grads(0.0)
    big = _indexnet_grads(0.5)
    for a, b in zip(only_l1, zero, strict=False):
        torch.testing.assert_close(a, b)
    assert max(float((a - b).abs().max()) for a, b in zip(only_l1, big, strict=False)) > 1e-6


def test_critic_step_detaches_fakes():
    batch, nets, cfg = make_batch(), make_nets(), StepConfig()
    optims = make_optims(nets)
    fakes = generate(nets, batch, cfg)
    assert fakes.composite.requires_grad and fakes.harmonized.requires_grad
    logs, d_fakes = critic_step(
        nets.discriminator,
        optims.discriminator,
        batch.image,
        [fakes.composite, batch.disharmonious, fakes.harmonized],
        cfg,
    )
    assert all(g is None for g in grads(nets.matting) + grads(nets.harmonization))
    assert len(d_fakes) == 3 and logs["d_gap"] == pytest.approx(logs["d_real"] - logs["d_fake"])


class SpySGD(torch.optim.SGD):
    """SGD that records the gradients it saw at ``step`` and the parameters it left."""

    def step(self, closure=None):
        params = [p for group in self.param_groups for p in group["params"]]
        self.seen = [None if p.grad is None else p.grad.clone() for p in params]
        result = super().step(closure)
        self.left = [p.detach().clone() for p in params]
        return result


@pytest.mark.parametrize("kind", ["hinge", "paper", "wgan-gp"])
def test_joint_step_freezes_critic_during_generator_step(kind, monkeypatch):
    batch, nets, cfg = make_batch(), make_nets(), StepConfig(gan_loss=kind)
    optims = make_optims(nets)
    optims.discriminator = SpySGD(nets.discriminator.parameters(), lr=0.1)
    d_before = [p.detach().clone() for p in nets.discriminator.parameters()]
    m_before = [p.detach().clone() for p in nets.matting.parameters()]
    during_g = []  # requires_grad of every critic parameter while the generator losses are built

    def spy_generator_losses(disc, *args, **kwargs):
        during_g.extend(p.requires_grad for p in disc.parameters())
        return generator_losses(disc, *args, **kwargs)

    monkeypatch.setattr(steps_module, "generator_losses", spy_generator_losses)
    logs = joint_step(nets, optims, batch, cfg)
    assert during_g and not any(during_g)  # frozen during the G step
    d_after = list(nets.discriminator.parameters())
    assert all(p.requires_grad for p in d_after)  # restored after the G step
    # the critic step (non-zero lr) moved the critic; nothing after it (the G step) did
    assert any(not torch.equal(p, b) for p, b in zip(d_after, d_before, strict=True))
    for p, left in zip(d_after, optims.discriminator.left, strict=True):
        torch.testing.assert_close(p, left, rtol=0, atol=0)
    # the G step added nothing to the critic's gradients
    for p, seen in zip(d_after, optims.discriminator.seen, strict=True):
        assert (p.grad is None and seen is None) or torch.equal(p.grad, seen)
    assert any(not torch.equal(a, b) for a, b in zip(m_before, nets.matting.parameters(), strict=False))
    for key in (
        "loss_gm",
        "loss_gh",
        "loss_d",
        "adv_gm",
        "adv_gh",
        "d_real",
        "d_fake",
        "d_gap",
        "gamma",
        "gamma2",
        "total",
    ):
        assert isinstance(logs[key], float) and logs[key] == logs[key], key
    assert ("loss_gp" in logs) == (kind == "wgan-gp")


def test_joint_step_bf16_autocast_finite():
    batch, nets = make_batch(), make_nets()
    logs = joint_step(nets, make_optims(nets), batch, StepConfig(amp_dtype=torch.bfloat16))
    assert all(v == v and abs(v) < float("inf") for v in logs.values())


def test_single_task_steps_reduce_their_losses():
    batch, nets = make_batch(), make_nets()
    optims, cfg = make_optims(nets, lr=3e-3), StepConfig()
    m = [matting_step(nets, optims, batch, cfg)["loss_matting"] for _ in range(30)]
    h = [harmonization_step(nets, optims, batch, cfg)["loss_gh"] for _ in range(30)]
    assert m[-1] < m[0] and h[-1] < 0.8 * h[0]


def test_step_config_and_missing_nets_errors():
    with pytest.raises(ValueError, match="gan_loss must be one of"):
        StepConfig(gan_loss="lsgan")
    nets = make_nets()
    with pytest.raises(ValueError, match="joint_step needs a discriminator"):
        joint_step(Nets(nets.matting, nets.harmonization), make_optims(nets), make_batch(), StepConfig())


def test_joint_training_overfits_tiny_set():
    batch, nets = make_batch(n=2, seed=3), make_nets(seed=1)
    optims, cfg = make_optims(nets, lr=2e-3, d_lr=1e-4), StepConfig()
    logs = [joint_step(nets, optims, batch, cfg) for _ in range(120)]
    first = {k: sum(ln[k] for ln in logs[:5]) / 5 for k in ("loss_gm", "loss_gh")}
    last = {k: sum(ln[k] for ln in logs[-5:]) / 5 for k in ("loss_gm", "loss_gh")}
    assert last["loss_gm"] < 0.5 * first["loss_gm"], (first, last)
    assert last["loss_gh"] < 0.5 * first["loss_gh"], (first, last)


class Recorder(torch.nn.Module):
    """Stub network: remembers its input and returns a fixed function of it."""

    def __init__(self, fn):
        super().__init__()
        self.fn, self.seen = fn, None
        self.w = torch.nn.Parameter(torch.ones(()))

    def forward(self, x):
        self.seen = x.detach().clone()
        return self.fn(x) * self.w


def test_predict_alpha_feeds_imagenet_normalised_rgb_and_trimap():
    batch = make_batch()
    net = Recorder(lambda x: x[:, 3:] * 0 + 0.7)
    a_r = predict_alpha(net, batch.image, batch.trimap)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(net.seen[:, :3], (batch.image - mean) / std)
    torch.testing.assert_close(net.seen[:, 3:], batch.trimap)
    unknown = batch.trimap == 0.5
    assert torch.allclose(a_r[unknown], torch.tensor(0.7))
    raw = predict_alpha(Recorder(lambda x: x[:, 3:] * 0 + 1.7), batch.image, batch.trimap, raw=True)
    assert torch.allclose(raw[unknown], torch.tensor(1.7))


def test_harmonize_maps_to_minus_one_one_and_back():
    batch = make_batch()
    net = Recorder(lambda x: x[:, :3])  # identity on the RGB part
    out = harmonize(net, batch.disharmonious, batch.alpha)
    torch.testing.assert_close(net.seen[:, :3], batch.disharmonious * 2 - 1)
    torch.testing.assert_close(net.seen[:, 3:], batch.alpha)
    torch.testing.assert_close(out, batch.disharmonious)


def test_region_mask_is_the_altered_side():
    alpha = torch.tensor([[[[0.0, 0.25, 1.0]]]])
    torch.testing.assert_close(region_mask(alpha), 1 - alpha)  # HMH: the background
    assert region_mask(alpha, "foreground") is alpha  # iHarmony4: the object
    assert region_mask(alpha).dtype == alpha.dtype and region_mask(alpha).shape == alpha.shape
    with pytest.raises(ValueError, match="altered"):
        region_mask(alpha, "both")


def test_every_training_harmonizer_input_uses_the_background_mask():
    """One convention (DoveNet's: the mask marks the region whose colours are adjusted):
    1 − A in the harmonization step, 1 − A_r in the joint step and the preview/validation."""
    from hmh_train.train.preview import preview_columns

    batch = make_batch()
    unet = Recorder(lambda x: x[:, :3])
    harmonization_step(
        Nets(harmonization=unet),
        Optimizers(harmonization=torch.optim.SGD(unet.parameters(), 0.0)),
        batch,
        StepConfig(),
    )
    torch.testing.assert_close(unet.seen[:, 3:], 1 - batch.alpha)
    matting = Recorder(lambda x: x[:, 3:] * 0 + 0.3)
    fakes = generate(Nets(matting=matting, harmonization=unet), batch, StepConfig())
    torch.testing.assert_close(unet.seen[:, 3:], 1 - fakes.alpha.detach())
    preview_columns(Nets(matting=matting, harmonization=unet), batch, "joint")
    torch.testing.assert_close(unet.seen[:, 3:], 1 - fakes.alpha.detach())


@pytest.mark.parametrize("kind", ["hinge", "paper", "wgan-gp"])
def test_critic_step_logged_loss_matches_its_definition(kind):
    batch, nets, cfg = make_batch(), make_nets(), StepConfig(gan_loss=kind, gp_weight=10.0)
    optims = make_optims(nets)
    fakes = [batch.disharmonious, batch.image.flip(3), batch.background]
    logs, means = critic_step(
        nets.discriminator,
        optims.discriminator,
        batch.image,
        fakes,
        cfg,
        generator=torch.Generator().manual_seed(0),
    )
    if kind == "wgan-gp":
        assert logs["loss_gp"] > 0
        expected = sum(means) / 3 - logs["d_real"] + 10.0 * logs["loss_gp"]
    elif kind == "paper":
        expected = sum(means) - logs["d_real"]
    else:  # hinge is not a function of the mean scores (literals in test_losses); it is >= 0
        assert logs["loss_d"] >= 0 and logs["d_gap"] == pytest.approx(logs["d_real"] - logs["d_fake"])
        return
    assert logs["loss_d"] == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_wgan_gp_critic_step_works_with_a_compiled_critic():
    """--compile --gan-loss wgan-gp: torch.compile cannot double-backward, so the gradient
    penalty must run the plain critic; the step must still update the compiled one's weights."""
    batch, nets, cfg = make_batch(), make_nets(), StepConfig(gan_loss="wgan-gp")
    optim = torch.optim.Adam(nets.discriminator.parameters(), 1e-3)
    compiled = torch.compile(nets.discriminator, backend="aot_eager")
    before = [p.detach().clone() for p in nets.discriminator.parameters()]
    logs, _ = critic_step(
        compiled,
        optim,
        batch.image,
        [batch.disharmonious, batch.background, batch.image.flip(3)],
        cfg,
        generator=torch.Generator().manual_seed(0),
    )
    assert logs["loss_gp"] > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, nets.discriminator.parameters(), strict=False))
