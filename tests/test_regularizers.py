import pytest
import torch
from torch import nn

from textgan.core.regularizers import (
    apply_spectral_norm,
    clip_weights,
    gradient_penalty,
    init_weights,
    instance_noise_std,
    r1_penalty,
)


def test_gradient_penalty_matches_hand_computation_for_a_linear_critic():
    """For D(x) = w·x the gradient is w at every x̂, so the penalty is (||w|| - 1)² exactly."""
    w = torch.tensor([3.0, 4.0])
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    gp = gradient_penalty(lambda x: x @ w, real, fake)
    assert gp.item() == pytest.approx((5.0 - 1.0) ** 2)


def test_gradient_penalty_is_per_sample_on_the_interpolates():
    """D(x) = Σ x² has gradient 2x̂ per sample; the penalty averages (2||x̂_i|| - 1)² over samples —
    not the norm of the whole batch gradient. The interpolation uses torch's RNG, replayed here."""
    real, fake = torch.randn(6, 3), torch.randn(6, 3)
    torch.manual_seed(5)
    gp = gradient_penalty(lambda x: (x**2).sum(dim=1), real, fake)
    torch.manual_seed(5)
    eps = torch.rand(6, 1)
    mixed = eps * real + (1 - eps) * fake
    expected = ((2 * mixed.norm(dim=1) - 1) ** 2).mean()
    assert gp.item() == pytest.approx(expected.item(), rel=1e-6)
    batch_norm_variant = (2 * mixed.norm() - 1) ** 2
    assert abs(gp.item() - batch_norm_variant.item()) > 1e-3


def test_gradient_penalty_backpropagates_into_d():
    d = nn.Linear(2, 1)
    gp = gradient_penalty(lambda x: d(x).squeeze(1), torch.randn(4, 2), torch.randn(4, 2))
    gp.backward()
    assert d.weight.grad is not None and d.weight.grad.abs().sum() > 0


def test_r1_penalty_hand_computation():
    """D(x) = Σ x²: ∇D = 2x, so R1 = mean ||2x||² = 4 mean ||x||²."""
    real = torch.randn(5, 3)
    r1 = r1_penalty(lambda x: (x**2).sum(dim=1), real)
    assert r1.item() == pytest.approx(4 * (real**2).sum(dim=1).mean().item(), rel=1e-6)


def test_instance_noise_anneals_linearly_to_zero():
    assert instance_noise_std(0.0, 100, 10) == 0.0
    assert instance_noise_std(0.2, 0, 10_000) == 0.2
    assert instance_noise_std(0.2, 100, 0) == pytest.approx(0.2)
    assert instance_noise_std(0.2, 100, 50) == pytest.approx(0.1)
    assert instance_noise_std(0.2, 100, 150) == 0.0


def test_clip_weights_bounds_every_parameter():
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 1))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(100)
    clip_weights(net, 0.01)
    assert all(p.abs().max() <= 0.01 for p in net.parameters())


def test_spectral_norm_bounds_the_largest_singular_value():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Sequential(nn.Linear(8, 1)))
    with torch.no_grad():
        net[0].weight.mul_(50)
    apply_spectral_norm(net)
    net.train()
    for _ in range(30):  # power iterations run in training-mode forward passes
        net(torch.randn(2, 6))
    for layer in (net[0], net[2][0]):
        assert torch.linalg.matrix_norm(layer.weight, ord=2).item() == pytest.approx(1.0, rel=1e-2)


@pytest.mark.parametrize("scheme", ["xavier", "orthogonal", "normal"])
def test_init_schemes(scheme):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 64), nn.Embedding(10, 64))
    init_weights(net, scheme)
    w = net[0].weight
    assert net[0].bias.abs().sum() == 0
    if scheme == "orthogonal":
        assert torch.allclose(w @ w.T, torch.eye(64), atol=1e-5)
    elif scheme == "normal":
        assert w.std().item() == pytest.approx(0.02, rel=0.1)
    else:
        bound = (6 / (64 + 64)) ** 0.5
        assert w.abs().max() <= bound and w.std().item() == pytest.approx(bound / 3**0.5, rel=0.1)


def test_default_init_leaves_weights_alone():
    net = nn.Linear(4, 4)
    before = net.weight.clone()
    init_weights(net, "default")
    assert torch.equal(before, net.weight)
