import math

import pytest
import torch

from textgan.core.losses import LOSSES, d_accuracy

REAL = torch.tensor([2.0, -1.0, 0.5])
FAKE = torch.tensor([-3.0, 0.0, 1.0])


def sp(x: float) -> float:
    return math.log1p(math.exp(x))


def mean(xs) -> float:
    return sum(xs) / len(xs)


R, F = REAL.tolist(), FAKE.tolist()
EXPECTED_D = {
    "vanilla": mean([sp(-r) for r in R]) + mean([sp(f) for f in F]),
    "ns": mean([sp(-r) for r in R]) + mean([sp(f) for f in F]),
    "lsgan": 0.5 * mean([(r - 1) ** 2 for r in R]) + 0.5 * mean([f**2 for f in F]),
    "wgan": mean(F) - mean(R),
    "wgan-gp": mean(F) - mean(R),
    "hinge": mean([max(0.0, 1 - r) for r in R]) + mean([max(0.0, 1 + f) for f in F]),
    "rsgan": mean([sp(-(r - f)) for r, f in zip(R, F)]),
    "rasgan": mean([sp(-(r - mean(F))) for r in R]) + mean([sp(f - mean(R)) for f in F]),
}
EXPECTED_G = {
    "vanilla": -mean([sp(f) for f in F]),
    "ns": mean([sp(-f) for f in F]),
    "lsgan": 0.5 * mean([(f - 1) ** 2 for f in F]),
    "wgan": -mean(F),
    "wgan-gp": -mean(F),
    "hinge": -mean(F),
    "rsgan": mean([sp(-(f - r)) for r, f in zip(R, F)]),
    "rasgan": mean([sp(-(f - mean(R))) for f in F]) + mean([sp(r - mean(F)) for r in R]),
}


def test_every_loss_is_tested():
    assert set(LOSSES) == set(EXPECTED_D) == set(EXPECTED_G)


@pytest.mark.parametrize("name", sorted(EXPECTED_D))
def test_d_loss_value(name):
    assert LOSSES[name].d_loss(REAL, FAKE, 0.0).item() == pytest.approx(EXPECTED_D[name], rel=1e-6)


@pytest.mark.parametrize("name", sorted(EXPECTED_G))
def test_g_loss_value(name):
    loss = LOSSES[name]
    assert (loss.g_loss(REAL if loss.g_needs_real else None, FAKE).item()
            == pytest.approx(EXPECTED_G[name], rel=1e-6))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_gradient_signs(name):
    """Descending D's loss raises D on reals and lowers it on fakes; descending G's loss raises D on
    fakes. Logits lie in (0, 1): inside the hinge margin and between LSGAN's targets 0 and 1, so
    every loss has a gradient there."""
    loss = LOSSES[name]
    real = torch.tensor([0.3, 0.8, 0.1], requires_grad=True)
    fake = torch.tensor([0.4, 0.2, 0.1], requires_grad=True)
    loss.d_loss(real, fake, 0.0).backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()
    fake.grad = None
    loss.g_loss(real.detach() if loss.g_needs_real else None, fake).backward()
    assert (fake.grad < 0).all()


def test_saturating_versus_non_saturating_gradient_when_d_wins():
    """The classic vanishing-gradient pitfall: with D confident (logit -8 on fakes) the saturating
    G loss has almost no gradient, the non-saturating one a strong one."""
    fake = torch.full((4,), -8.0, requires_grad=True)
    LOSSES["vanilla"].g_loss(None, fake).backward()
    saturating = fake.grad.abs().mean().item()
    fake.grad = None
    LOSSES["ns"].g_loss(None, fake).backward()
    assert saturating < 1e-3
    assert fake.grad.abs().mean().item() > 0.2


def test_one_sided_label_smoothing_targets_1_minus_s():
    s = 0.1
    value = LOSSES["ns"].d_loss(REAL, FAKE, s).item()
    expected = mean([(1 - s) * sp(-r) + s * sp(r) for r in R]) + mean([sp(f) for f in F])
    assert value == pytest.approx(expected, rel=1e-6)
    lsgan = LOSSES["lsgan"].d_loss(REAL, FAKE, s).item()
    assert lsgan == pytest.approx(0.5 * mean([(r - 0.9) ** 2 for r in R]) + 0.5 * mean([f**2 for f in F]),
                                  rel=1e-6)


def test_large_logits_stay_finite():
    big = torch.tensor([200.0, -200.0])
    for loss in LOSSES.values():
        assert torch.isfinite(loss.d_loss(big, -big, 0.1))
        assert torch.isfinite(loss.g_loss(big, -big))


def test_only_wgan_clips_weights():
    assert [n for n, loss in LOSSES.items() if loss.weight_clip] == ["wgan"]


def test_the_critic_losses_take_no_labels_and_config_refuses_smoothing_them():
    from textgan.config import LossConfig
    from textgan.errors import UserError

    assert sorted(n for n, loss in LOSSES.items() if not loss.takes_labels) == ["hinge", "wgan", "wgan-gp"]
    for name, loss in LOSSES.items():
        cfg = LossConfig(name=name, label_smoothing=0.1)
        if loss.takes_labels:
            cfg.validate()
        else:
            with pytest.raises(UserError, match="no meaning"):
                cfg.validate()


def test_the_objective_adds_its_penalties_and_clips_only_for_wgan():
    from textgan.config import LossConfig
    from textgan.core.objective import Objective
    from textgan.core.regularizers import r1_penalty

    torch.manual_seed(0)
    D = torch.nn.Linear(3, 1)
    real, fake = torch.randn(8, 3), torch.randn(8, 3)

    def discriminate(x):
        return D(x).reshape(-1)

    plain, d_real, d_fake, stats = Objective(LossConfig("ns")).d_loss(discriminate, real, fake)
    assert stats == {} and plain.item() == pytest.approx(LOSSES["ns"].d_loss(d_real, d_fake, 0.0).item())
    with_r1, _, _, stats = Objective(LossConfig("ns", r1_weight=2.0)).d_loss(discriminate, real, fake)
    assert with_r1.item() == pytest.approx(plain.item() + r1_penalty(discriminate, real).item())
    assert stats["r1"] == pytest.approx(r1_penalty(discriminate, real).item())
    assert "gp" in Objective(LossConfig("wgan-gp")).d_loss(discriminate, real, fake)[3]
    with torch.no_grad():
        D.weight.fill_(1.0)
    Objective(LossConfig("ns")).constrain(D)
    assert D.weight.max().item() == 1.0
    Objective(LossConfig("wgan", wgan_clip=0.01)).constrain(D)
    assert D.weight.abs().max().item() == pytest.approx(0.01)


def test_d_accuracy():
    assert d_accuracy(REAL, FAKE) == (pytest.approx(2 / 3), pytest.approx(1 / 3))
