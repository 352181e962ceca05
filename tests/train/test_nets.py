"""Shapes, parameter counts and block oracles for the three networks (CPU, narrow, tiny)."""

import pytest
import torch
from torch import nn

from hmh_train.nets import (
    build_discriminator,
    build_harmonization_net,
    build_matting_net,
    count_parameters,
    network_summary,
)
from hmh_train.nets.blocks import SelfAttention
from hmh_train.nets.indexnet import IndexBlock
from hmh_train.nets.unet import UNetLevel

# The published networks at width 1.0 (REFERENCE.md §3–4: the official IndexNet configuration
# has 5,953,515 parameters in 549 state-dict tensors; DoveNet's released U-Net 54,759,939).
INDEXNET_PARAMS = 5_953_515
INDEXNET_WIDE_HEAD_PARAMS = 5_979_152  # the 32-channel head option: 32·32·25 + 32·2 + 32·25 − 2·25 − 2
UNET_PARAMS = 54_759_939
DISCRIMINATOR_PARAMS = 7_365_571


def test_indexnet_parameter_count_default_width():
    net = build_matting_net()
    assert count_parameters(net) == INDEXNET_PARAMS
    assert len(net.state_dict()) == 549
    assert count_parameters(build_matting_net(head="wide")) == INDEXNET_WIDE_HEAD_PARAMS


def test_indexnet_head_shapes():
    published, wide = build_matting_net(0.25), build_matting_net(0.25, head="wide")
    assert published.pred[0][0].weight.shape == (1, 8, 5, 5)  # 32·width → 1
    assert published.pred[1].weight.shape == (1, 1, 5, 5) and published.pred[1].bias is None
    assert wide.pred[0][0].weight.shape == (8, 8, 5, 5) and wide.pred[1].weight.shape == (1, 8, 5, 5)
    with pytest.raises(ValueError, match="head"):
        build_matting_net(0.25, head="narrow")


def test_unet_parameter_count_default_width():
    assert count_parameters(build_harmonization_net()) == UNET_PARAMS
    # instance norm: no norm parameters, but every inner conv / transposed conv has a bias
    inst = build_harmonization_net(norm="instance")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in inst.modules())
    assert all(m.bias is not None for m in inst.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)))


def test_discriminator_parameter_count_default_width():
    assert count_parameters(build_discriminator()) == DISCRIMINATOR_PARAMS


def test_indexnet_full_width_forward_256():
    torch.manual_seed(0)
    net = build_matting_net().eval()
    with torch.no_grad():
        y = net(torch.randn(1, 4, 256, 256))
    assert y.shape == (1, 1, 256, 256) and torch.isfinite(y).all()


@pytest.mark.parametrize("width", [0.125, 0.25])
def test_width_shrinks_every_network(width):
    assert count_parameters(build_matting_net(width)) < INDEXNET_PARAMS / 8
    assert count_parameters(build_harmonization_net(width)) < UNET_PARAMS / 8
    assert count_parameters(build_discriminator(width)) < DISCRIMINATOR_PARAMS / 8


@pytest.mark.parametrize("hw", [(64, 64), (32, 96)])
def test_indexnet_shapes_raw_output(hw):
    """The output is the last conv's raw value (no sigmoid, no clip; clipping is the
    caller's): values outside [0, 1] come out, and scaling the last conv's weights by −10
    scales the output by exactly −10 (same dropout draws: same seed before each forward)."""
    torch.manual_seed(0)
    net = build_matting_net(0.25).train()
    x = torch.randn(2, 4, *hw) * 3
    with torch.no_grad():
        torch.manual_seed(1)
        y = net(x)
        net.pred[-1].weight.mul_(-10)
        torch.manual_seed(1)
        scaled = net(x)
    assert y.shape == (2, 1, *hw)
    assert y.dtype == torch.float32
    assert y.min() < 0 and y.max() > 1
    torch.testing.assert_close(scaled, -10 * y)


def test_indexnet_trains_on_a_single_sample():
    """ASPP's image-pooling BN sees one value per channel at batch 1: there (only) it uses its
    running statistics instead of failing; at batch 2 it is plain training-mode batch norm."""
    torch.manual_seed(0)
    net = build_matting_net(0.125).train()
    bn = net.dconv_pp.global_avg_pool[2]
    assert isinstance(bn, nn.BatchNorm2d)
    before = bn.running_mean.clone()
    y = net(torch.randn(1, 4, 64, 64))  # 2×2 maps at ASPP (32×32 would give 1×1 everywhere)
    assert y.shape == (1, 1, 64, 64) and torch.isfinite(y).all()
    assert torch.equal(bn.running_mean, before)  # no statistics from a single value
    net(torch.randn(2, 4, 64, 64))
    assert not torch.equal(bn.running_mean, before)  # batches of 2: ordinary batch norm


def test_indexnet_rejects_size_not_multiple_of_32():
    with pytest.raises(ValueError, match="multiples of 32"):
        build_matting_net(0.25)(torch.randn(1, 4, 48, 64))


def test_indexnet_encoder_decoder_parameter_groups_partition():
    net = build_matting_net(0.25)
    enc, dec = net.encoder_parameters(), net.decoder_parameters()
    assert len(enc) + len(dec) == len(list(net.parameters()))
    assert {id(p) for p in enc}.isdisjoint(id(p) for p in dec)
    assert any(p is net.layer0[0].weight for p in enc)
    assert any(p is net.layer7[0].conv[6].weight for p in enc)
    assert any(p is net.pred[1].weight for p in dec)
    assert any(p is net.index0.indexnet1[0].weight for p in dec)


def test_index_block_indices():
    torch.manual_seed(0)
    block = IndexBlock(6).eval()
    enc, dec = block(torch.randn(2, 6, 8, 12))
    assert enc.shape == dec.shape == (2, 6, 8, 12)
    # encoder index: softmax over the 4 pixels of each 2×2 cell → sums to 1 per cell
    cell_sums = 4 * nn.functional.avg_pool2d(enc, 2)
    torch.testing.assert_close(cell_sums, torch.ones_like(cell_sums))
    assert (dec > 0).all() and (dec < 1).all()
    # the softmax is taken over the sigmoid values: within a cell, order is preserved
    d = dec[0, 0, :2, :2].flatten()
    e = enc[0, 0, :2, :2].flatten()
    torch.testing.assert_close(e, torch.softmax(d, 0))


def test_unet_shapes_range_and_layout():
    torch.manual_seed(0)
    net = build_harmonization_net(0.25, num_downs=6).train()
    y = net(torch.rand(2, 4, 64, 64) * 2 - 1)
    assert y.shape == (2, 3, 64, 64)
    assert y.abs().max() <= 1
    full = build_harmonization_net(0.125, num_downs=8)
    assert sum(isinstance(m, nn.Dropout) for m in full.modules()) == 3
    gates = [m.attention[0] for m in full.modules() if isinstance(m, UNetLevel) and m.attention]
    assert [g.in_channels for g in gates] == [16, 32, 64]  # 2×(ngf, 2ngf, 4ngf), ngf 8


def test_unet_rejects_bad_sizes():
    with pytest.raises(ValueError, match="multiples of 64"):
        build_harmonization_net(0.125, num_downs=6)(torch.randn(1, 4, 96, 96))
    with pytest.raises(ValueError, match="num_downs"):
        build_harmonization_net(0.125, num_downs=4)


def test_discriminator_scores_and_attention_sizes():
    torch.manual_seed(0)
    d = build_discriminator(0.125)
    sides = []
    for attn in d.attention:
        attn.register_forward_hook(lambda m, i, o: sides.append(i[0].shape[-1]))
    s = d(torch.rand(3, 3, 256, 256) * 2 - 1)
    assert s.shape == (3,)
    assert sides == [32, 16]
    assert d.gammas() == [0.0, 0.0]
    s64 = d(torch.rand(2, 3, 64, 64))
    assert s64.shape == (2,)


def test_discriminator_spectral_norm_everywhere_no_batchnorm():
    d = build_discriminator(0.125)
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(hasattr(m, "parametrizations") for m in convs)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in d.modules())


def test_self_attention_matches_naive_loop():
    torch.manual_seed(0)
    attn = SelfAttention(16).eval()
    with torch.no_grad():
        attn.gamma.fill_(0.7)
        x = torch.randn(1, 16, 3, 4)
        y = attn(x)
        q, k, v = attn.query(x)[0], attn.key(x)[0], attn.value(x)[0]
        xs = [(i, j) for i in range(3) for j in range(4)]
        o = torch.zeros(8, 3, 4)
        for a in xs:
            logits = torch.stack([(q[:, a[0], a[1]] * k[:, b[0], b[1]]).sum() for b in xs])
            w = torch.softmax(logits, 0)
            o[:, a[0], a[1]] = sum(w[n] * v[:, b[0], b[1]] for n, b in enumerate(xs))
        expected = x + 0.7 * attn.out(o[None])
    torch.testing.assert_close(y, expected, rtol=1e-5, atol=1e-5)


def test_self_attention_identity_at_init():
    x = torch.randn(2, 8, 4, 4)
    torch.testing.assert_close(SelfAttention(8)(x), x)


def test_unet_level_skip_is_leaky_relu_of_the_input_and_gated():
    """An inner level returns gate(cat(LeakyReLU(x), inner(x))): the official code's in-place
    LeakyReLU makes the skip LeakyReLU(x) (REFERENCE.md §4), and the attention gate multiplies
    by sigmoid(1×1 conv) of that concatenation."""
    torch.manual_seed(0)
    inner = UNetLevel(2, 2, innermost=True)
    level = UNetLevel(1, 2, submodule=inner, attention=True).eval()
    x = torch.randn(1, 1, 4, 4)
    with torch.no_grad():
        level.attention[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, -2.0]]).view(2, 2, 1, 1))
        level.attention[0].bias.copy_(torch.tensor([0.5, 0.0]))
        skip = torch.nn.functional.leaky_relu(x, 0.2)
        down = level.model[2](level.model[1](skip))  # conv → BN
        up = level.model[6](level.model[5](level.model[4](inner(down))))
        cat = torch.cat((skip, up), dim=1)
        expected = cat * torch.sigmoid(level.attention[0](cat))
        torch.testing.assert_close(level(x), expected)
        assert not torch.equal(skip, x)  # x has negative values: the skip is not x itself


def test_network_summary_rows():
    rows = network_summary(width=0.125, size=64, num_downs=6)
    assert [r[0].split()[0] for r in rows] == ["matting", "harmonization", "discriminator"]
    assert [r[2] for r in rows] == [(1, 4, 64, 64), (1, 4, 64, 64), (1, 3, 64, 64)]
    assert [r[3] for r in rows] == [(1, 1, 64, 64), (1, 3, 64, 64), (1,)]
    assert rows[0][1] == count_parameters(build_matting_net(0.125))
    with pytest.raises(ValueError, match="multiple"):
        network_summary(width=0.125, size=64, num_downs=8)


def test_config_choices_match_the_networks():
    from hmh_train.nets.indexnet import HEADS
    from hmh_train.nets.unet import NORMS
    from hmh_train.train.config import MATTING_HEADS, UNET_NORMS, ConfigError, load_config

    assert MATTING_HEADS == HEADS and UNET_NORMS == NORMS
    cfg = load_config("joint", None, {"matting_head": "wide", "unet_norm": "instance"})
    assert (cfg.matting_head, cfg.unet_norm) == ("wide", "instance")
    with pytest.raises(ConfigError, match="unet_norm must be one of batch, instance"):
        load_config("joint", None, {"unet_norm": "group"})
