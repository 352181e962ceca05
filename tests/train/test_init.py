"""Published initialisation of fresh networks: weight statistics per layer type against the
official formulas (hmh_train/nets/init.py states where each rule was read), the ``init`` key,
and loading a checkpoint left unaffected."""

import math

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from hmh_train.nets import build_discriminator, build_harmonization_net, build_matting_net
from hmh_train.nets.init import DOVENET_GAIN, initialise
from hmh_train.train.config import load_config, load_saved_config, save_config
from hmh_train.train.distributed import Runtime
from hmh_train.train.engine import build_nets

Z = 5.0  # bound on a standardised sample statistic (fixed seed: a wrong formula fails by far more)


def _check_std(values: torch.Tensor, sigma: float, where: str) -> None:
    """Sample std of ``values`` within Z standard errors of ``sigma`` (se of a normal sample's
    std: sigma/sqrt(2n)) and mean within Z·sigma/sqrt(n) of 0."""
    n = values.numel()
    assert abs(values.std().item() / sigma - 1) * math.sqrt(2 * n) < Z, where
    assert abs(values.mean().item()) * math.sqrt(n) / sigma < Z, where


def _convs(net):
    return [(name, m) for name, m in net.named_modules() if type(m) in (nn.Conv2d, nn.ConvTranspose2d)]


def test_indexnet_every_conv_normal_sqrt_2_over_k2_out_and_bn_one_zero():
    torch.manual_seed(0)
    net = initialise(build_matting_net(0.5), "published")
    convs = _convs(net)
    assert len(convs) > 100  # encoder, index blocks, ASPP, decoder and head alike
    pooled = []
    for name, m in convs:
        sigma = math.sqrt(2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels))
        w = m.weight.detach().flatten()
        if w.numel() >= 50:
            _check_std(w, sigma, name)
        pooled.append(w / sigma)
        assert m.bias is None or not m.bias.any()
    _check_std(torch.cat(pooled), 1.0, "all convs pooled")
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(bool((m.weight == 1).all() and (m.bias == 0).all()) for m in bns)
    # the ASPP is not left at Kaiming fan_in (its own constructor's draw, overwritten officially):
    # 640 → 80 channels, so √(2/fan_out) is √8 times √(2/fan_in)
    aspp = net.dconv_pp.bottleneck_conv[0]
    fan_in = aspp.in_channels * aspp.kernel_size[0] * aspp.kernel_size[1]
    assert aspp.weight.std().item() > 2 * math.sqrt(2.0 / fan_in)


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_unet_dovenet_normal_002_and_bn_normal_1_002(norm):
    torch.manual_seed(0)
    net = initialise(build_harmonization_net(0.5, num_downs=6, norm=norm), "published")
    pooled = []
    for name, m in _convs(net):
        w = m.weight.detach().flatten()
        _check_std(w, DOVENET_GAIN, name)
        pooled.append(w)
        assert m.bias is None or not m.bias.any(), name
    _check_std(torch.cat(pooled), DOVENET_GAIN, "all convs pooled")
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bool(bns) == (norm == "batch")
    if bns:
        _check_std(torch.cat([m.weight.detach() - 1 for m in bns]), DOVENET_GAIN, "BN weights")
        assert not any(m.bias.any() for m in bns)


def test_critic_glorot_uniform_under_spectral_norm_and_gamma_zero():
    torch.manual_seed(0)
    net = build_discriminator(0.5)
    with torch.no_grad():
        for a in net.attention:
            a.gamma.fill_(0.3)
    initialise(net, "published")
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 6 + 4 * 2 and all(parametrize.is_parametrized(m, "weight") for m in convs)
    for m in convs:
        w = m.parametrizations.weight.original.detach()
        fan_in, fan_out = w.shape[1] * w[0, 0].numel(), w.shape[0] * w[0, 0].numel()
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        assert w.abs().max().item() <= bound
        _check_std(w.flatten(), bound / math.sqrt(3), "sn conv")
        assert m.bias is None or not m.bias.any()
        # spectral norm works on the new weight: the effective weight's largest singular value is 1
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2).item()
        assert sigma == pytest.approx(1.0, rel=0.1)
    assert net.gammas() == [0.0, 0.0]
    assert net(torch.rand(2, 3, 64, 64)).shape == (2,)


def test_pytorch_init_leaves_the_module_defaults_and_bad_names_fail():
    torch.manual_seed(3)
    a = build_harmonization_net(0.25, num_downs=5)
    torch.manual_seed(3)
    b = initialise(build_harmonization_net(0.25, num_downs=5), "pytorch")
    assert all(
        torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )
    with pytest.raises(ValueError, match="init must be one of published, pytorch"):
        initialise(a, "xavier")
    with pytest.raises(ValueError, match="no published initialisation is known for Linear"):
        initialise(nn.Linear(2, 2), "published")


def test_a_network_can_bring_its_own_published_rule():
    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 3)

        def published_init(self):
            self.conv.weight.fill_(0.5)

    net = initialise(Tiny(), "published")
    assert bool((net.conv.weight == 0.5).all()) and net.conv.weight.requires_grad


def test_config_default_is_published_and_old_runs_read_as_pytorch(tmp_path):
    from hmh_train.nets.init import INITS
    from hmh_train.train.config import INITS as CONFIG_INITS

    assert CONFIG_INITS == INITS
    cfg = load_config("joint")
    assert cfg.init == "published"
    assert load_config("joint", None, {"init": "pytorch"}).init == "pytorch"
    save_config(cfg, tmp_path / "config.yaml")
    assert load_saved_config("joint", tmp_path / "config.yaml").init == "published"
    text = (tmp_path / "config.yaml").read_text().replace("init: published\n", "")
    (tmp_path / "old.yaml").write_text(text)
    assert load_saved_config("joint", tmp_path / "old.yaml").init == "pytorch"


def _runtime():
    return Runtime(torch.device("cpu"))


def test_engine_initialises_fresh_nets_by_the_init_key_and_keeps_loaded_ones(tmp_path):
    base = {"width": 0.25, "num_downs": 5, "seed": 0}
    published = build_nets(load_config("joint", None, base), _runtime())
    pytorch = build_nets(load_config("joint", None, {**base, "init": "pytorch"}), _runtime())
    conv = published.harmonization.model.model[0]
    assert conv.weight.std().item() == pytest.approx(DOVENET_GAIN, rel=0.1)
    assert pytorch.harmonization.model.model[0].weight.std().item() > 2 * DOVENET_GAIN
    bn = published.matting.layer0[1]
    assert bool((bn.weight == 1).all())
    # a network started from a file keeps the file's weights exactly
    from tests.train.tiny_ckpt import save_tiny_checkpoint

    run = save_tiny_checkpoint(tmp_path / "run", names=("harmonization",), seed=7)
    loaded = build_nets(
        load_config("joint", None, {**base, "harmonization_ckpt": str(run), "harmonizer_output": "paper"}),
        _runtime(),
    )
    saved = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["nets"]["harmonization"]
    state = loaded.harmonization.state_dict()
    assert all(torch.equal(state[k], v) for k, v in saved.items())


def test_deep_matting_keeps_its_constructor_s_official_draw():
    from hmh_train.nets import build_matting_net

    torch.manual_seed(0)
    built = build_matting_net(0.125, net="dim")
    before = {k: v.clone() for k, v in built.state_dict().items()}
    initialise(built, "published")
    assert all(torch.equal(before[k], v) for k, v in built.state_dict().items())
