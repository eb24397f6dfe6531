import math

import pytest
import torch

from textgan.errors import UserError
from textgan.text.discriminators import RelGANDiscriminator
from textgan.text.generators import LSTMGenerator, RelationalMemoryGenerator, TransformerGenerator
from textgan.text.signals import maligan_rewards, mc_rollout_rewards, reinforce_loss, temperature

torch.set_num_threads(1)
V, T, B = 12, 5, 3


def test_temperature_schedules_start_middle_end():
    n, beta = 1000, 100.0
    start = {s: temperature(0, n, beta, s) for s in ("no", "lin", "exp", "log", "quad", "sqrt")}
    assert start == {"no": 100.0, "lin": 1.0, "exp": 1.0, "log": 1.0, "quad": 1.0, "sqrt": 1.0}
    assert temperature(0, n, beta, "sigmoid") == pytest.approx(1 + 99 / (1 + math.exp(10)))
    for s in ("lin", "log", "quad", "sqrt"):
        assert temperature(n - 1, n, beta, s) == pytest.approx(beta)
    assert temperature(n - 1, n, beta, "exp") == pytest.approx(beta ** (999 / 1000))
    assert temperature(n - 1, n, beta, "sigmoid") == pytest.approx(beta, rel=1e-3)
    assert temperature(500, n, beta, "lin") == pytest.approx(1 + 500 / 999 * 99)
    assert temperature(500, n, beta, "exp") == pytest.approx(10.0)
    assert temperature(500, n, beta, "sigmoid") == pytest.approx(50.5)
    assert temperature(500, n, beta, "quad") == pytest.approx(1 + 99 * (500 / 999) ** 2)
    assert temperature(500, n, beta, "sqrt") == pytest.approx(1 + 99 * math.sqrt(500 / 999))
    assert temperature(499, n, beta, "log") == pytest.approx(1 + 99 * math.log(500) / math.log(1000))
    assert temperature(5000, n, beta, "lin") == pytest.approx(beta)  # held after the horizon
    assert temperature(300, n, 1.0, "exp") == 1.0  # beta_max 1 (RelGAN on the oracle): constant
    with pytest.raises(UserError):
        temperature(0, n, beta, "cubic")


def constant_generator(token: int) -> LSTMGenerator:
    """A generator that emits `token` at every step with probability 1."""
    g = LSTMGenerator(V, emb_dim=4, hidden_dim=4, bos_id=0)
    with torch.no_grad():
        g.out.weight.zero_()
        g.out.bias.fill_(-1e4)
        g.out.bias[token] = 0.0
    return g


def position_weighted_d(x: torch.Tensor) -> torch.Tensor:
    """A deterministic D whose logit depends on every (position, token) pair differently."""
    weights = torch.arange(1, T + 1, dtype=torch.float32, device=x.device) * 0.37
    return ((x.float() - 5.5) * weights).sum(-1) / 10


@pytest.mark.parametrize("max_rows", [1, 7, 1000])
def test_rollout_rewards_are_assigned_to_the_right_sample_and_position(max_rows):
    # every completion of samples[b, :t+1] is samples[b, :t+1] followed by token 9, so the
    # reward of (b, t) is known exactly; rows of different samples carry different rewards
    g = constant_generator(9)
    samples = torch.tensor([[1, 2, 3, 4, 5], [6, 7, 8, 0, 1], [11, 10, 2, 2, 3]])
    rewards = mc_rollout_rewards(g, samples, position_weighted_d, num_rollouts=4, max_rows=max_rows)
    assert rewards.shape == (B, T)
    expected = torch.empty(B, T)
    for b in range(B):
        for t in range(T):
            completed = torch.cat([samples[b, : t + 1], torch.full((T - t - 1,), 9)])
            expected[b, t] = torch.sigmoid(position_weighted_d(completed[None]))[0]
    torch.testing.assert_close(rewards, expected)


def test_rollouts_follow_the_generator_distribution():
    # with a random generator, rewards are Monte-Carlo means: compare with exact expectations
    # for a D that looks at the last token only: reward(b, t) = E[sigmoid(D)] over the last token
    torch.manual_seed(0)
    g = LSTMGenerator(V, emb_dim=4, hidden_dim=4, bos_id=0).eval()
    samples = g.sample(2, 3)
    score = torch.linspace(-2, 2, V)

    def d(x):
        return score[x[:, -1]]

    rewards = mc_rollout_rewards(g, samples, d, num_rollouts=20000, rng=torch.Generator().manual_seed(0))
    # token 2 given the sample's prefix of length 2: exact expectation from the model's logits
    probs = torch.softmax(g(samples)[:, 2], -1)
    torch.testing.assert_close(rewards[:, 1], probs @ torch.sigmoid(score), atol=0.01, rtol=0)
    torch.testing.assert_close(rewards[:, 2], torch.sigmoid(score[samples[:, 2]]))


@pytest.mark.parametrize("make", [
    lambda: RelationalMemoryGenerator(V, emb_dim=4, num_heads=2, head_size=4, bos_id=0),
    lambda: TransformerGenerator.from_config(V, n_layer=1, n_head=2, n_embd=8, n_positions=8, bos_id=0),
])
def test_rollouts_work_for_every_generator_and_a_delayed_copy(make):
    torch.manual_seed(0)
    g = make().eval()
    samples = g.sample(B, T)
    rewards = mc_rollout_rewards(g, samples, position_weighted_d, num_rollouts=3, max_rows=5)
    assert rewards.shape == (B, T) and ((rewards > 0) & (rewards < 1)).all()
    # the reward of the last token is D of the sample itself, whatever completes the prefixes
    other = mc_rollout_rewards(g, samples, position_weighted_d, num_rollouts=3,
                               rollout_generator=constant_generator(1))
    torch.testing.assert_close(other[:, -1], rewards[:, -1])
    expected = torch.sigmoid(position_weighted_d(
        torch.cat([samples[:, :1], torch.ones(B, T - 1, dtype=torch.long)], 1)))
    torch.testing.assert_close(other[:, 0], expected)


def test_reinforce_increases_the_probability_of_a_rewarded_token():
    torch.manual_seed(0)
    g = LSTMGenerator(V, emb_dim=4, hidden_dim=4, bos_id=0)
    samples = g.sample(B, T)
    rewards = torch.zeros(B, T)
    rewards[1, 2] = 1.0
    before = g.log_probs(samples)[1, 2].item()
    opt = torch.optim.SGD(g.parameters(), lr=0.5)
    reinforce_loss(g.log_probs(samples), rewards).backward()
    opt.step()
    assert g.log_probs(samples)[1, 2].item() > before
    # a negative reward pushes the other way
    opt.zero_grad()
    reinforce_loss(g.log_probs(samples), -rewards).backward()
    opt.step()
    opt.zero_grad()
    reinforce_loss(g.log_probs(samples), -rewards).backward()
    opt.step()
    assert g.log_probs(samples)[1, 2].item() < before


def test_reinforce_baseline_mask_and_reduction():
    log_probs = torch.randn(B, T, requires_grad=True)
    rewards = torch.rand(B, T)
    mask = torch.ones(B, T)
    mask[:, -1] = 0
    plain = reinforce_loss(log_probs, rewards, mask=mask, reduction="sum")
    torch.testing.assert_close(plain, -(log_probs * rewards)[:, :-1].sum())
    mean = reinforce_loss(log_probs, rewards, mask=mask)
    torch.testing.assert_close(mean, plain / (B * (T - 1)))
    centred = reinforce_loss(log_probs, rewards, baseline="mean", reduction="sum")
    torch.testing.assert_close(centred, -(log_probs * (rewards - rewards.mean(0))).sum())
    torch.testing.assert_close(reinforce_loss(log_probs, rewards, baseline=0.5, reduction="sum"),
                               -(log_probs * (rewards - 0.5)).sum())
    with pytest.raises(UserError):
        reinforce_loss(log_probs, rewards, baseline="median")


def test_maligan_rewards_are_normalised_odds():
    logits = torch.tensor([0.0, 1.0, -2.0, 3.0])
    d = torch.sigmoid(logits)
    odds = d / (1 - d)
    raw = maligan_rewards(logits, baseline=None)
    torch.testing.assert_close(raw, odds / odds.sum())
    centred = maligan_rewards(logits)
    torch.testing.assert_close(centred, odds / odds.sum() - 0.25)
    assert abs(centred.sum().item()) < 1e-6
    torch.testing.assert_close(maligan_rewards(logits, baseline=0.1), raw - 0.1)
    assert torch.isfinite(maligan_rewards(torch.tensor([500.0, 0.0]), baseline=None)).all()


@pytest.mark.parametrize("make", [
    lambda: LSTMGenerator(V, emb_dim=4, hidden_dim=4, bos_id=0),
    lambda: RelationalMemoryGenerator(V, emb_dim=4, num_heads=2, head_size=4, bos_id=0),
])
def test_gumbel_gradients_flow_from_d_into_every_generator_parameter(make):
    torch.manual_seed(0)
    g = make()
    d = RelGANDiscriminator(V, T, emb_dim=8, num_rep=4, filter_sizes=(2, 3), num_filters=(5, 5))
    _, soft = g.gumbel_sample(B, T, tau=1.0)
    torch.nn.functional.softplus(-d(soft)).mean().backward()
    for name, p in g.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_gumbel_gradients_reach_the_transformer():
    torch.manual_seed(0)
    g = TransformerGenerator.from_config(V, n_layer=1, n_head=2, n_embd=8, n_positions=8, bos_id=0)
    d = RelGANDiscriminator(V, T, emb_dim=8, num_rep=4, filter_sizes=(2,), num_filters=(5,))
    _, soft = g.gumbel_sample(B, T, tau=1.0, hard=True)
    d(soft).mean().backward()
    grads = [p.grad for p in g.parameters()]
    assert all(gr is not None for gr in grads) and sum(gr.abs().sum() for gr in grads) > 0


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_generators_discriminators_and_rollouts_on_cuda():
    from textgan.text.discriminators import SeqGANDiscriminator

    dev = torch.device("cuda")
    rng = torch.Generator(dev).manual_seed(0)
    d = RelGANDiscriminator(V, T, emb_dim=8, num_rep=4, filter_sizes=(2, 3), num_filters=(5, 5)).to(dev)
    for g in (LSTMGenerator(V, bos_id=0), RelationalMemoryGenerator(V, head_size=8, bos_id=0),
              TransformerGenerator.from_config(V, n_layer=1, n_embd=8, n_positions=8, bos_id=0)):
        g = g.to(dev).eval()
        x = g.sample(B, T, generator=rng)
        assert x.device.type == "cuda"
        _, soft = g.gumbel_sample(B, T, tau=0.5, generator=rng)
        d(soft).mean().backward()
        assert all(p.grad is not None for p in g.parameters())
    seqgan_d = SeqGANDiscriminator(V, T, emb_dim=8, filter_sizes=(1, 2), num_filters=(4, 4)).to(dev).eval()
    torch.testing.assert_close(seqgan_d.scorer()(x), seqgan_d(x), atol=1e-2, rtol=1e-2)  # cuDNN may use TF32
    samples = torch.randint(0, V, (B, T), device=dev)
    rewards = mc_rollout_rewards(constant_generator(9).to(dev), samples, position_weighted_d, 4, rng=rng)
    cpu = mc_rollout_rewards(constant_generator(9), samples.cpu(), position_weighted_d, 4)
    torch.testing.assert_close(rewards.cpu(), cpu)
