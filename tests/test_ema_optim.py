import pytest
import torch
from torch import nn

from textgan.config import OptimConfig
from textgan.core.data import ShuffledBatches
from textgan.core.ema import EMA
from textgan.core.optim import build_optimizer, build_scheduler, clip_and_measure


def test_ema_follows_the_exponential_average():
    net = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        net.weight.fill_(0.0)
    ema = EMA(net, decay=0.9)
    expected = 0.0
    for step, value in enumerate([1.0, 2.0, 3.0], start=1):
        with torch.no_grad():
            net.weight.fill_(value)
        ema.update(net, step)
        expected = 0.9 * expected + 0.1 * value
    assert torch.allclose(ema.module.weight, torch.full((1, 2), expected))
    assert not ema.module.weight.requires_grad


def test_ema_copies_until_start_step_and_copies_buffers():
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    ema = EMA(net, decay=0.99, start_step=5)
    net(torch.randn(8, 2))  # updates the running statistics
    with torch.no_grad():
        net[0].weight.add_(1.0)
    ema.update(net, step=5)
    assert torch.equal(ema.module[0].weight, net[0].weight)
    assert torch.equal(ema.module[1].running_mean, net[1].running_mean)
    with torch.no_grad():
        net[0].weight.add_(1.0)
    ema.update(net, step=6)
    assert not torch.equal(ema.module[0].weight, net[0].weight)


def test_ema_state_round_trips():
    net = nn.Linear(3, 3)
    ema = EMA(net, 0.5)
    other = EMA(nn.Linear(3, 3), 0.5)
    other.load_state_dict(ema.state_dict())
    assert torch.equal(other.module.weight, ema.module.weight)


def _net_with_grads(scale: float) -> nn.Module:
    net = nn.Linear(4, 3)
    for p in net.parameters():
        p.grad = torch.full_like(p, scale)
    return net


def test_clip_by_norm_reports_the_norm_before_clipping():
    net = _net_with_grads(2.0)
    n_params = sum(p.numel() for p in net.parameters())
    norm = clip_and_measure(net, OptimConfig(clip_norm=1.0))
    assert norm == pytest.approx(2.0 * n_params**0.5)
    after = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in net.parameters()]))
    assert after.item() == pytest.approx(1.0, rel=1e-5)


def test_clip_by_value_and_no_clipping():
    net = _net_with_grads(-3.0)
    clip_and_measure(net, OptimConfig(clip_value=0.5))
    assert all((p.grad == -0.5).all() for p in net.parameters())
    net = _net_with_grads(3.0)
    clip_and_measure(net, OptimConfig())
    assert all((p.grad == 3.0).all() for p in net.parameters())


@pytest.mark.parametrize("name", ["adam", "adamw", "rmsprop", "sgd", "adagrad", "adadelta"])
def test_every_optimizer_takes_a_step(name):
    net = nn.Linear(2, 1)
    opt = build_optimizer(net.parameters(), OptimConfig(name=name, lr=0.1, weight_decay=0.01))
    before = net.weight.detach().clone()
    net(torch.ones(1, 2)).sum().backward()
    opt.step()
    assert not torch.equal(before, net.weight)


@pytest.mark.parametrize(
    "schedule,expected",
    [("constant", [1.0, 1.0, 1.0]), ("linear", [1.0, 0.5, 0.0]), ("cosine", [1.0, 0.5, 0.0]),
     ("step", [1.0, 1.0, 0.5])],
)
def test_schedules(schedule, expected):
    net = nn.Linear(1, 1)
    cfg = OptimConfig(lr=1.0, schedule=schedule, step_size=10, gamma=0.5)
    opt = build_optimizer(net.parameters(), cfg)
    sched = build_scheduler(opt, cfg, total_steps=10)
    seen = []
    for step in range(11):
        if step in (0, 5, 10):
            seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx(expected, abs=1e-9)


def test_shuffled_batches_resume_in_the_same_order():
    data = torch.arange(10)
    a = ShuffledBatches(data, 3, seed=1)
    seen = [a.next() for _ in range(4)]
    assert sorted(torch.cat(seen[:3]).tolist()) == sorted(set(torch.cat(seen[:3]).tolist()))
    state = a.state_dict()
    rest = [a.next() for _ in range(5)]
    b = ShuffledBatches(data, 3, seed=1)
    b.load_state_dict(state)
    assert all(torch.equal(x, b.next()) for x in rest)


@pytest.mark.parametrize("name", ["adam", "adamw", "sgd", "adagrad"])
def test_fused_update_matches_torch_default_kernel(name):
    """build_optimizer takes torch's fused kernel; its steps equal the default (foreach) kernel's."""
    torch.manual_seed(0)
    nets = [nn.Linear(7, 5), nn.Linear(7, 5)]
    nets[1].load_state_dict(nets[0].state_dict())
    cfg = OptimConfig(name=name, lr=0.05, weight_decay=0.01, momentum=0.9)
    fused = build_optimizer(nets[0].parameters(), cfg)
    assert fused.defaults["fused"]
    kwargs = ({"betas": cfg.betas} if name.startswith("adam")
              else {"momentum": cfg.momentum} if name == "sgd" else {})
    reference = getattr(torch.optim, {"adam": "Adam", "adamw": "AdamW",
                                      "sgd": "SGD", "adagrad": "Adagrad"}[name])(
        nets[1].parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True, **kwargs)
    for _ in range(5):
        x = torch.randn(16, 7)
        for net, opt in zip(nets, (fused, reference)):
            opt.zero_grad()
            net(x).pow(2).mean().backward()
            opt.step()
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
