"""Loss functions against hand-computed literal values and simple oracles."""

import math

import pytest
import torch

from hmh_train.train.losses import (
    alpha_l1_unknown,
    charbonnier,
    discriminator_loss,
    generator_adversarial_loss,
    gradient_penalty,
    harmonization_l1,
    masked_mean,
    matting_loss,
    unknown_mask,
)


def t(values, shape):
    return torch.tensor(values, dtype=torch.float32).view(shape)


def test_charbonnier_literals():
    assert float(charbonnier(t([0.3], (1,)), t([0.0], (1,)), eps=1.0)) == pytest.approx(math.sqrt(1.09))
    assert float(charbonnier(t([0.0], (1,)), t([0.0], (1,)))) == pytest.approx(1e-6)
    assert float(charbonnier(t([-0.25], (1,)), t([0.5], (1,)))) == pytest.approx(0.75)


def test_unknown_mask():
    tri = t([0.0, 0.5, 1.0, 0.5], (1, 1, 2, 2))
    assert unknown_mask(tri).flatten().tolist() == [0.0, 1.0, 0.0, 1.0]


def test_masked_mean_per_sample_then_batch():
    values = t([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], (2, 1, 2, 2))
    mask = t([1, 1, 0, 0, 0, 0, 0, 0], (2, 1, 2, 2))
    # sample 0: (1 + 2) / 2 = 1.5; sample 1 has no masked pixel → 0; batch mean 0.75
    assert float(masked_mean(values, mask)) == pytest.approx(0.75)
    # channels are summed: two identical channels double the value
    assert float(masked_mean(values.repeat(1, 2, 1, 1), mask)) == pytest.approx(1.5)


def test_matting_loss_literal():
    # two pixels; only the first is unknown. pred 0.2 vs alpha 0.5, I = 1, B = 0 there.
    pred = t([0.2, 0.9], (1, 1, 1, 2))
    alpha = t([0.5, 1.0], (1, 1, 1, 2))
    image = torch.ones(1, 3, 1, 2)
    background = torch.zeros(1, 3, 1, 2)
    trimap = t([0.5, 1.0], (1, 1, 1, 2))
    total, l_alpha, l_comp = matting_loss(pred, alpha, image, background, trimap)
    assert float(l_alpha) == pytest.approx(0.3, abs=1e-6)
    assert float(l_comp) == pytest.approx(0.9, abs=1e-6)  # |−0.3| summed over 3 channels
    assert float(total) == pytest.approx(0.6, abs=1e-6)
    total2, _, _ = matting_loss(pred, alpha, image, background, trimap, 1.0, 0.0)
    assert float(total2) == pytest.approx(0.3, abs=1e-6)


def test_matting_loss_zero_for_perfect_alpha_and_gradient_only_on_unknown():
    alpha = t([0.3, 0.7, 1.0, 0.0], (1, 1, 2, 2))
    trimap = t([0.5, 0.5, 1.0, 0.0], (1, 1, 2, 2))
    image, bg = torch.rand(1, 3, 2, 2), torch.rand(1, 3, 2, 2)
    pred = (alpha + 0.1).requires_grad_(True)
    total, _, _ = matting_loss(pred, alpha, image, bg, trimap)
    total.backward()
    assert (pred.grad.flatten()[2:] == 0).all() and (pred.grad.flatten()[:2] != 0).all()
    zero, _, _ = matting_loss(alpha, alpha, image, bg, trimap)
    assert float(zero) < 1e-5


def test_l1_losses_literal():
    pred = t([0.2, 0.9, 0.0, 1.0], (1, 1, 2, 2))
    alpha = t([0.5, 0.5, 1.0, 1.0], (1, 1, 2, 2))
    trimap = t([0.5, 0.5, 0.0, 1.0], (1, 1, 2, 2))
    assert float(alpha_l1_unknown(pred, alpha, trimap)) == pytest.approx((0.3 + 0.4) / 2)
    img = torch.zeros(1, 3, 1, 2)
    out = t([1, 0, 0.5, 0, 0, 0], (1, 3, 1, 2))
    assert float(harmonization_l1(out, img)) == pytest.approx(1.5 / 6)


REAL = t([1.5, -0.5], (2,))
FAKES = [t([0.5, -2.0], (2,)), t([2.0, 0.0], (2,)), t([-1.0, 3.0], (2,))]


@pytest.mark.parametrize(
    "kind, expected",
    [
        # Eq. 3 as written: (−0.75 + 1 + 1) − 0.5
        ("paper", 0.75),
        # relu(1 − real) mean 0.75; fakes: mean of (0.75, 2, 2)
        ("hinge", 0.75 + 4.75 / 3),
        # mean of fake means 1.25/3 minus real mean 0.5
        ("wgan-gp", 1.25 / 3 - 0.5),
    ],
)
def test_discriminator_loss_literals(kind, expected):
    assert float(discriminator_loss(kind, REAL, FAKES)) == pytest.approx(expected)


@pytest.mark.parametrize("kind, expected", [("paper", 1.25), ("hinge", 0.75), ("wgan-gp", 0.75)])
def test_generator_loss_literals(kind, expected):
    assert float(generator_adversarial_loss(kind, FAKES[0], REAL)) == pytest.approx(expected)


def test_gan_loss_bad_arguments():
    with pytest.raises(ValueError, match="unknown GAN loss 'lsgan'"):
        discriminator_loss("lsgan", REAL, FAKES)
    with pytest.raises(ValueError, match="real scores"):
        generator_adversarial_loss("paper", FAKES[0])


def test_gradient_penalty_linear_critic():
    w = torch.full((1, 3, 2, 2), 0.5)

    def critic(x):
        return (w * x).sum(dim=(1, 2, 3))

    gp = gradient_penalty(critic, torch.rand(4, 3, 2, 2), torch.rand(4, 3, 2, 2))
    assert float(gp) == pytest.approx((math.sqrt(3) - 1) ** 2, rel=1e-6)


def test_gradient_penalty_quadratic_critic_with_given_eps():
    def critic(x):  # D(x) = ½‖x‖² → ∇D(x̂) = x̂
        return 0.5 * (x**2).sum(dim=(1, 2, 3))

    real, fake = torch.ones(2, 1, 2, 2), torch.zeros(2, 1, 2, 2)
    eps = t([0.5, 0.25], (2, 1, 1, 1))
    # x̂ = eps; ‖x̂‖ = 2·eps → (1, 0.5); penalties (0, 0.25); mean 0.125
    assert gradient_penalty(critic, real, fake, eps=eps).item() == pytest.approx(0.125)


def test_gradient_penalty_differentiable_in_critic_parameters():
    scale = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    w = torch.full((1, 1, 2, 2), 0.25, dtype=torch.float64)  # ‖w‖ = 0.5

    def critic(x):
        return scale * (w * x).sum(dim=(1, 2, 3))

    x = torch.rand(3, 1, 2, 2, dtype=torch.float64)
    gp = gradient_penalty(critic, x, x.flip(0))
    gp.backward()
    # GP = (0.5·s − 1)² → dGP/ds = 2(0.5·s − 1)·0.5 = 0 at s = 2; check at s = 3 too
    assert float(scale.grad) == pytest.approx(0.0, abs=1e-12)
    scale.grad = None
    with torch.no_grad():
        scale.fill_(3.0)
    gradient_penalty(critic, x, x.flip(0)).backward()
    assert float(scale.grad) == pytest.approx(0.5)
