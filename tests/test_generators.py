import pytest
import torch

from textgan.errors import UserError
from textgan.text import cpu_kernels
from textgan.text.generators import (
    LSTMGenerator,
    RelationalMemoryGenerator,
    TransformerGenerator,
    sample_linear,
    sample_logits,
)

torch.set_num_threads(1)
V, T, B = 50, 6, 4


def make(kind: str):
    torch.manual_seed(0)
    if kind == "lstm":
        g = LSTMGenerator(V, emb_dim=8, hidden_dim=8, bos_id=0)
    elif kind == "rmc":
        g = RelationalMemoryGenerator(V, emb_dim=8, mem_slots=2, num_heads=2, head_size=8, bos_id=0)
    else:
        g = TransformerGenerator.from_config(V, n_layer=1, n_head=2, n_embd=16, n_positions=16, bos_id=0)
    return g.eval()


KINDS = ["lstm", "rmc", "transformer"]


def step_logits(g, tokens):
    """Logits of a step-by-step teacher-forced pass."""
    prev, state, out = g.bos(len(tokens)), g.init_state(len(tokens)), []
    for t in range(tokens.shape[1]):
        logits, state = g.step(prev, state)
        out.append(logits)
        prev = tokens[:, t]
    return torch.stack(out, dim=1)


@pytest.mark.parametrize("kind", KINDS)
def test_shapes_and_step_equals_forward(kind):
    g = make(kind)
    x = torch.randint(0, V, (B, T))
    logits = g(x)
    assert logits.shape == (B, T, V)
    torch.testing.assert_close(step_logits(g, x), logits, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_log_probs_match_forward(kind):
    g = make(kind)
    x = torch.randint(0, V, (B, T))
    expected = torch.log_softmax(g(x), -1).gather(-1, x[..., None])[..., 0]
    torch.testing.assert_close(g.log_probs(x), expected)


def test_first_position_is_conditioned_on_bos_only():
    g = make("lstm")
    x = torch.randint(0, V, (B, T))
    y = x.clone()
    y[:, 1:] = (y[:, 1:] + 1) % V
    torch.testing.assert_close(g(x)[:, 0], g(y)[:, 0])
    assert not torch.allclose(g(x)[:, 2], g(y)[:, 2])


@pytest.mark.parametrize("kind", KINDS)
def test_sample_is_deterministic_with_a_seeded_generator(kind):
    g = make(kind)
    a = g.sample(5, T, generator=torch.Generator().manual_seed(3))
    b = g.sample(5, T, generator=torch.Generator().manual_seed(3))
    c = g.sample(5, T, generator=torch.Generator().manual_seed(4))
    assert a.shape == (5, T) and a.dtype == torch.long
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("kind", KINDS)
def test_top_k_one_and_tiny_temperature_are_greedy(kind):
    g = make(kind)
    greedy = g.sample(3, T, top_k=1)
    torch.testing.assert_close(step_logits(g, greedy).argmax(-1), greedy)
    assert torch.equal(g.sample(3, T, temperature=1e-4), greedy)


@pytest.fixture(params=["kernel", "torch"])
def sampling_path(request, monkeypatch):
    """Each sampling test twice: through the compiled draw kernel (where it builds) and torch's ops."""
    if request.param == "torch":
        monkeypatch.setattr(cpu_kernels, "draw", lambda *args, **kwargs: None)
    elif not cpu_kernels.status().startswith("compiled"):
        pytest.skip(cpu_kernels.status())


def test_sample_logits_follows_softmax_temperature_and_top_k(sampling_path):
    gen = torch.Generator().manual_seed(0)
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0, float("-inf")]])
    draws = sample_logits(logits.expand(40000, -1), generator=gen)[:, 0]
    freq = torch.bincount(draws, minlength=5) / len(draws)
    torch.testing.assert_close(freq, torch.softmax(logits[0], -1), atol=0.01, rtol=0)
    hot = sample_logits(logits.expand(40000, -1), temperature=2.0, generator=gen)[:, 0]
    freq_hot = torch.bincount(hot, minlength=5) / len(hot)
    torch.testing.assert_close(freq_hot, torch.softmax(logits[0] / 2, -1), atol=0.01, rtol=0)
    top2 = sample_logits(logits.expand(1000, -1), top_k=2, generator=gen)
    assert set(top2.unique().tolist()) == {0, 1}
    many = sample_logits(logits, num_samples=7, generator=gen)
    assert many.shape == (1, 7)
    with pytest.raises(UserError, match="temperature"):
        sample_logits(logits, temperature=0.0)


def test_sample_linear_draws_each_row_from_its_own_softmax(sampling_path):
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 5)
    features = torch.randn(2, 3).repeat_interleave(20000, dim=0)  # two distributions, many chunks each
    probs = torch.softmax(layer(features[[0, -1]]).detach(), -1)
    for temperature in (1.0, 2.0):
        draws = sample_linear(features, layer, temperature,
                              generator=torch.Generator().manual_seed(1)).view(2, -1)
        for row in range(2):
            freq = torch.bincount(draws[row], minlength=5) / draws.shape[1]
            torch.testing.assert_close(freq, torch.softmax(probs[row].log() / temperature, -1),
                                       atol=0.012, rtol=0)
    top2 = sample_linear(features, layer, top_k=2).view(2, -1)
    for row in range(2):
        assert set(top2[row].unique().tolist()) == set(probs[row].topk(2).indices.tolist())
    one_chunk = sample_linear(features[:32], layer, generator=torch.Generator().manual_seed(3))
    expected = sample_logits(layer(features[:32]), generator=torch.Generator().manual_seed(3))[:, 0]
    assert torch.equal(one_chunk, expected)


@pytest.mark.parametrize("kind", KINDS)
def test_gumbel_sample_soft_and_hard(kind):
    g = make(kind)
    tokens, soft = g.gumbel_sample(3, T, tau=0.5, generator=torch.Generator().manual_seed(1))
    assert tokens.shape == (3, T) and soft.shape == (3, T, V)
    torch.testing.assert_close(soft.sum(-1), torch.ones(3, T))
    assert torch.equal(soft.argmax(-1), tokens)  # argmax of (logits + g) / tau is argmax of logits + g
    tokens_h, hard = g.gumbel_sample(3, T, tau=0.5, hard=True, generator=torch.Generator().manual_seed(1))
    assert torch.equal(tokens_h, tokens)
    assert torch.equal(hard.detach(), torch.nn.functional.one_hot(tokens, V).float())


def test_straight_through_gradient_is_the_soft_gradient():
    g = make("rmc")
    w = torch.randn(V)

    def grads(hard):
        g.zero_grad()
        _, y = g.gumbel_sample(3, T, tau=0.7, hard=hard, generator=torch.Generator().manual_seed(2))
        (y * w).sum().backward()
        return [p.grad.clone() for p in g.parameters()]

    for a, b in zip(grads(True), grads(False)):
        torch.testing.assert_close(a, b)


def test_larger_tau_gives_softer_outputs():
    g = make("lstm")
    _, sharp = g.gumbel_sample(8, T, tau=0.1, generator=torch.Generator().manual_seed(0))
    _, smooth = g.gumbel_sample(8, T, tau=10.0, generator=torch.Generator().manual_seed(0))
    assert sharp.amax(-1).mean() > smooth.amax(-1).mean()


def test_repeat_and_cat_states_are_row_wise():
    g = make("rmc")
    x = torch.randint(0, V, (2,))
    _, state = g.step(x, g.init_state(2))
    rep = g.repeat_state(state, 3)
    assert torch.equal(rep[0][3], state[0][1]) and torch.equal(rep[0][2], state[0][0])
    both = g.cat_states([state, rep])
    assert both[0].shape[0] == 8


def test_rmc_initial_memory_is_padded_identity():
    g = RelationalMemoryGenerator(V, mem_slots=3, num_heads=1, head_size=4, bos_id=1)
    (memory,) = g.init_state(2)
    assert memory.shape == (2, 3, 4)
    torch.testing.assert_close(memory[1], torch.eye(3, 4))


def test_bad_bos_id():
    with pytest.raises(UserError):
        LSTMGenerator(V, bos_id=V)


def test_transformer_from_pretrained_round_trip(tmp_path):
    g = make("transformer")
    g.model.save_pretrained(tmp_path)
    loaded = TransformerGenerator.from_pretrained(tmp_path).eval()
    assert loaded.bos_id == 0
    x = torch.randint(0, V, (2, T))
    torch.testing.assert_close(loaded(x), g(x))


def test_transformer_errors(tmp_path):
    with pytest.raises(UserError, match="no pretrained model"):
        TransformerGenerator.from_pretrained(tmp_path / "missing")
    g = make("transformer")
    with pytest.raises(UserError, match="positions"):
        g.sample(1, 17)
