"""Issue 20.4: the critic's matting fake. With the paper's composite a matte of 1 over the
unknown band gives back the real image exactly, so no critic can tell that fake from the real
image and the generator's adversarial term E[D(I) − D(I_c)] is 0 whatever the critic learns
(the trivial optimum); composed on another sample's background no matte gives back a real
image."""

from __future__ import annotations

import pytest
import torch

from hmh_train.nets import build_discriminator
from hmh_train.nets.forward import to_pm1, unknown_mask
from hmh_train.train.config import CRITIC_COMPOSITES as CONFIG_COMPOSITES
from hmh_train.train.config import ConfigError, load_config
from hmh_train.train.losses import (
    CRITIC_COMPOSITES,
    generator_adversarial_loss,
    matting_fake,
    other_backgrounds,
)
from hmh_train.train.steps import StepConfig, generate

from .test_steps import make_batch, make_nets


def _band_of_ones(batch):
    """A_r with the known regions of the trimap pasted and 1 over the whole unknown band."""
    band = unknown_mask(batch.trimap)
    return band + (1 - band) * batch.trimap


def test_paper_composite_has_the_trivial_optimum():
    batch = make_batch(n=3, seed=2)
    a_r = _band_of_ones(batch)
    assert (unknown_mask(batch.trimap) * (1 - batch.alpha)).sum() > 0  # the band shows background
    fake = matting_fake(a_r, batch.image, batch.background, "paper")
    assert torch.equal(fake, batch.image)  # I_c = I bit for bit
    for seed in range(3):  # any critic: the term E[D(I) − D(I_c)] is exactly 0
        torch.manual_seed(seed)
        critic = build_discriminator(0.125).eval()
        real = critic(to_pm1(batch.image))
        term = generator_adversarial_loss("paper", critic(to_pm1(fake)), real)
        assert term.item() == 0.0


@pytest.mark.parametrize("fill", ["band of ones", "true alpha", "zeros", "random"])
def test_new_background_has_no_matte_that_gives_back_a_real_image(fill):
    batch = make_batch(n=3, seed=2)
    torch.manual_seed(0)
    a_r = {
        "band of ones": _band_of_ones(batch),
        "true alpha": batch.alpha,
        "zeros": torch.zeros_like(batch.alpha),
        "random": torch.rand_like(batch.alpha),
    }[fill]
    fake = matting_fake(a_r, batch.image, batch.background, "new-background")
    known_bg = (batch.trimap == 0).expand_as(fake)  # A_r is 0 there in any predicted matte
    other = other_backgrounds(batch.background)
    if fill != "random":  # a predicted matte has 0 on the known background: I_c = B' there
        assert torch.equal(fake[known_bg], other[known_bg])
    for i in range(3):  # no fake equals any real image of the batch
        for j in range(3):
            assert not torch.equal(fake[i], batch.image[j])
    assert (fake - batch.image).abs().amax(dim=(1, 2, 3)).min() > 0.05


def test_other_backgrounds_never_keeps_the_own_one():
    bg = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 2, 2)
    assert other_backgrounds(bg)[:, 0, 0, 0].tolist() == [3.0, 0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="at least 2"):
        other_backgrounds(bg[:1])


def test_the_option_reaches_the_joint_step_and_is_validated():
    assert CONFIG_COMPOSITES == CRITIC_COMPOSITES
    assert load_config("joint").critic_composite == "paper"
    with pytest.raises(ConfigError, match="batch_size >= 2"):
        load_config("joint", None, {"critic_composite": "new-background", "batch_size": 1})
    with pytest.raises(ConfigError, match="critic_composite must be one of"):
        load_config("joint", None, {"critic_composite": "elsewhere"})
    with pytest.raises(ValueError, match="critic_composite"):
        StepConfig(critic_composite="elsewhere")
    batch = make_batch(n=2, seed=1)
    nets = make_nets()
    for net in (nets.matting, nets.harmonization):
        net.eval()  # no dropout draw: both calls see the same networks
    with torch.no_grad():
        paper = generate(nets, batch, StepConfig(critic_composite="paper"))
        new = generate(nets, batch, StepConfig(critic_composite="new-background"))
    expected = new.alpha * batch.image + (1 - new.alpha) * batch.background.roll(1, 0)
    torch.testing.assert_close(new.composite, expected)
    assert not torch.equal(paper.composite, new.composite)
    assert torch.equal(paper.harmonized, new.harmonized)  # only the matting fake changes
