"""The naive reference of benchmarks/naive_steps.py computes what the optimised steps compute: the same
generator logits, discriminator logits and gradients (to 1e-5, float32 rounding), the same rollout
rewards for a deterministic generator and, for a random one, the same rollout estimator (batch-mean
rewards per position within 0.04, about 4 standard errors of 8 samples x 100 rollouts)."""

import sys
from pathlib import Path

import torch

from textgan.text.discriminators import RelGANDiscriminator, SeqGANDiscriminator
from textgan.text.generators import LSTMGenerator, RelationalMemoryGenerator
from textgan.text.signals import mc_rollout_rewards

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from naive_steps import (
    naive_discriminator,
    naive_log_softmax,
    naive_rollout_rewards,
    naive_step,
)

torch.set_num_threads(1)
V, T, B = 11, 6, 4


def test_naive_generator_steps_and_log_probs_match():
    torch.manual_seed(0)
    tokens = torch.randint(0, V, (B, T))
    for G in (RelationalMemoryGenerator(V, emb_dim=8, mem_slots=2, num_heads=2, head_size=4, bos_id=0),
              LSTMGenerator(V, emb_dim=8, hidden_dim=8, bos_id=0)):
        state_a = state_b = G.init_state(B)
        prev = G.bos(B)
        for t in range(T):
            logits_a, state_a = G.step(prev, state_a)
            logits_b, state_b = naive_step(G, prev, state_b)
            torch.testing.assert_close(logits_b, logits_a, atol=1e-5, rtol=1e-5)
            prev = tokens[:, t]
        gathered = naive_log_softmax(G, tokens).gather(-1, tokens[..., None])[..., 0]
        torch.testing.assert_close(gathered, G.log_probs(tokens), atol=1e-5, rtol=1e-5)


def same_outputs_and_gradients(D: torch.nn.Module, soft: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """D and its naive forward on soft inputs: equal outputs, input gradients and parameter gradients;
    returns D's outputs and input gradient."""
    grads = []
    for forward in (D, lambda x: naive_discriminator(D, x)):
        x = soft.clone().requires_grad_()
        D.zero_grad()
        out = forward(x)
        (out * torch.linspace(-1, 2, len(out))).sum().backward()
        grads.append((out.detach(), x.grad, [p.grad.clone() for p in D.parameters()]))
    (out_a, dx_a, dp_a), (out_b, dx_b, dp_b) = grads
    torch.testing.assert_close(out_b, out_a, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(dx_b, dx_a, atol=1e-5, rtol=1e-5)
    for a, b in zip(dp_a, dp_b):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)
    return out_a, dx_a


def test_naive_relgan_d_matches_logits_and_gradients():
    torch.manual_seed(1)
    D = RelGANDiscriminator(V, T, emb_dim=8, num_rep=4, filter_sizes=(2, 3), num_filters=(5, 7)).eval()
    ids = torch.randint(0, V, (B, T))
    torch.testing.assert_close(naive_discriminator(D, ids), D(ids), atol=1e-5, rtol=1e-5)
    soft = torch.softmax(torch.randn(B, T, V) * 3, dim=-1)
    out_a, dx_a = same_outputs_and_gradients(D, soft)
    D.requires_grad_(False)  # as in a generator step: reals need no gradient, fakes one w.r.t. the input
    torch.testing.assert_close(D(ids), naive_discriminator(D, ids), atol=1e-5, rtol=1e-5)
    x = soft.clone().requires_grad_()
    (D(x) * torch.linspace(-1, 2, len(out_a))).sum().backward()
    torch.testing.assert_close(x.grad, dx_a, atol=1e-5, rtol=1e-5)


def test_naive_seqgan_d_matches_forward_and_scorer():
    torch.manual_seed(2)
    D = SeqGANDiscriminator(V, T, emb_dim=8, filter_sizes=(1, 2, 3), num_filters=(4, 5, 6)).eval()
    ids = torch.randint(0, V, (B, T))
    naive = naive_discriminator(D, ids)
    torch.testing.assert_close(naive, D(ids), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(naive, D.scorer()(ids), atol=1e-5, rtol=1e-5)
    same_outputs_and_gradients(D, torch.softmax(torch.randn(B, T, V) * 3, dim=-1))  # matmul windows vs Conv1d


def seqgan_pair(seed: int) -> tuple[LSTMGenerator, SeqGANDiscriminator]:
    torch.manual_seed(seed)
    G = LSTMGenerator(V, emb_dim=8, hidden_dim=8, bos_id=0)
    D = SeqGANDiscriminator(V, T, emb_dim=8, filter_sizes=(1, 2, 3), num_filters=(4, 5, 6))
    with torch.no_grad():
        D.out.weight.mul_(20)  # rewards spread over (0, 1), not all near 0.5
    return G, D


def test_naive_rollouts_equal_batched_ones_for_a_deterministic_generator():
    G, D = seqgan_pair(3)
    with torch.no_grad():  # G emits token 7 with probability 1
        G.out.weight.zero_()
        G.out.bias.fill_(-1e4)
        G.out.bias[7] = 0.0
    samples = torch.randint(0, V, (B, T))
    expected = mc_rollout_rewards(G, samples, D.scorer(), num_rollouts=3)
    torch.testing.assert_close(naive_rollout_rewards(G, samples, D, num_rollouts=3),
                               expected, atol=1e-5, rtol=1e-5)
    assert D.training  # the naive rollouts restore D's mode


def test_naive_rollouts_estimate_the_same_rewards():
    G, D = seqgan_pair(4)
    samples = torch.randint(0, V, (8, T))
    torch.manual_seed(5)
    naive = naive_rollout_rewards(G, samples, D, num_rollouts=100)
    batched = mc_rollout_rewards(G, samples, D.scorer(), num_rollouts=100)
    assert naive[:, :-1].std() > 0.05  # the check has something to compare
    torch.testing.assert_close(naive.mean(0), batched.mean(0), atol=0.04, rtol=0)
