import pytest
import torch
from torch.nn.utils.parametrizations import spectral_norm

from textgan.errors import UserError
from textgan.text.discriminators import RelGANDiscriminator, SeqGANDiscriminator

torch.set_num_threads(1)
V, T, B = 30, 8, 3


def seqgan(**kw):
    torch.manual_seed(0)
    return SeqGANDiscriminator(V, T, emb_dim=8, filter_sizes=(1, 2, 3, 20),
                               num_filters=(4, 5, 6, 7), **kw).eval()


def relgan(num_rep=4, **kw):
    torch.manual_seed(0)
    return RelGANDiscriminator(V, T, emb_dim=8, num_rep=num_rep, filter_sizes=(2, 3),
                               num_filters=(5, 6), **kw).eval()


@pytest.mark.parametrize("make", [seqgan, relgan])
def test_one_hot_input_equals_ids(make):
    d = make()
    x = torch.randint(0, V, (B, T))
    one_hot = torch.nn.functional.one_hot(x, V).float()
    torch.testing.assert_close(d(one_hot), d(x))


def test_seqgan_shapes_and_skips_wide_filters():
    d = seqgan()
    assert [c.kernel_size[0] for c in d.convs] == [1, 2, 3]
    assert d(torch.randint(0, V, (B, T))).shape == (B,)
    assert seqgan(highway=False)(torch.randint(0, V, (B, T))).shape == (B,)
    with pytest.raises(UserError):
        SeqGANDiscriminator(V, 2, filter_sizes=(3,), num_filters=(4,))


def test_relgan_one_logit_per_representation_sample_major():
    d = relgan()
    x = torch.randint(0, V, (B, T))
    logits = d(x)
    assert logits.shape == (B * 4,)
    y = x.clone()
    y[1] = (y[1] + 1) % V  # change sample 1 only
    changed = (d(y) - logits).view(B, 4).abs().amax(1)
    assert changed[0] == 0 and changed[2] == 0 and changed[1] > 0
    with pytest.raises(UserError):
        RelGANDiscriminator(V, T, emb_dim=10, num_rep=4)


@pytest.mark.parametrize("make", [seqgan, relgan])
def test_soft_inputs_get_gradients(make):
    d = make()
    soft = torch.softmax(torch.randn(B, T, V), -1).requires_grad_()
    d(soft).sum().backward()
    assert soft.grad.abs().sum() > 0


@pytest.mark.parametrize("make", [seqgan, relgan])
def test_shared_highway_and_spectral_norm(make):
    d = make(shared_highway=True)
    assert d.highway.gate is None
    for m in d.modules():
        if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)):
            spectral_norm(m)
    d.train()
    assert torch.isfinite(d(torch.randint(0, V, (B, T)))).all()


def test_dropout_only_in_training():
    d = seqgan(dropout=0.5)
    x = torch.randint(0, V, (B, T))
    torch.testing.assert_close(d(x), d(x))
    d.train()
    torch.manual_seed(1)
    a = d(x)
    assert not torch.allclose(a, d(x))


def test_compiled_seqgan_equals_eager_with_a_filter_as_wide_as_the_sequence():
    # with 2 threads, inductor's backward of an `unfold` spanning the sequence corrupted the heap (a crash)
    d = SeqGANDiscriminator(V, T, emb_dim=8, filter_sizes=(2, T), num_filters=(4, 5)).eval()
    x = torch.randint(0, V, (B, T))
    torch.set_num_threads(2)
    try:
        compiled = torch.compile(d.forward)
        torch.testing.assert_close(compiled(x), d(x))
        grads = [torch.autograd.grad(forward(x).sum(), d.parameters()) for forward in (compiled, d)]
    finally:
        torch.set_num_threads(1)
    for compiled_grad, eager_grad in zip(*grads):
        torch.testing.assert_close(compiled_grad, eager_grad)


def test_seqgan_scorer_equals_eval_forward_and_keeps_mode():
    d = seqgan(dropout=0.5).train()
    score = d.scorer()
    assert d.training
    x = torch.randint(0, V, (16, T))
    d.eval()
    torch.testing.assert_close(score(x), d(x), atol=1e-5, rtol=1e-5)


# one and two features per representation; compiled, one feature per representation takes the fused
# running maximum (about 20 s of C++ build on a cold cache)
@pytest.mark.parametrize("num_rep, compiled", [(4, False), (8, False), (8, True)])
def test_relgan_pooling_matches_plain_max_pooling_in_value_and_gradient(num_rep, compiled):
    d = relgan(num_rep)
    forward = torch.compile(d.forward) if compiled else d
    soft = torch.softmax(3 * torch.randn(B, T, V), -1)

    def reference(x):
        e = (x @ d.embedding.weight).unsqueeze(1)
        pooled = torch.cat([conv(e).amax(2) for conv in d.convs], 1).relu().transpose(1, 2).flatten(0, 1)
        return d.out(d.fc(d.highway(pooled))).squeeze(-1)

    a, b = soft.clone().requires_grad_(), soft.clone().requires_grad_()
    fast, slow = forward(a), reference(b)
    torch.testing.assert_close(fast, slow)
    with torch.no_grad():
        torch.testing.assert_close(forward(soft), slow)
    weights = torch.randn(len(fast))
    grads_fast = torch.autograd.grad((fast * weights).sum(), [a, d.convs[0].weight])
    grads_slow = torch.autograd.grad((slow * weights).sum(), [b, d.convs[0].weight])
    for gf, gs in zip(grads_fast, grads_slow):
        torch.testing.assert_close(gf, gs)
