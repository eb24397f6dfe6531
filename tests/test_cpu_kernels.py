"""The compiled CPU kernels against torch: the same tokens as torch's inverse CDF for the same uniforms,
never a token without mass, softmax's frequencies; cross-entropy values and gradients as
`F.cross_entropy`; and torch's ops whenever the kernels cannot be had."""

import shutil

import pytest
import torch
from scipy.stats import chisquare

from textgan.text import cpu_kernels
from textgan.text.cpu_kernels import linear_cross_entropy
from textgan.text.generators import sample_logits

needs_compiler = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")


def torch_draw(logits, u, bias=None, scale=1.0):
    y = (logits if bias is None else logits + bias) * scale
    cdf = torch.softmax(y, -1).cumsum(-1)
    return torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp_max_(y.shape[-1] - 1)


@pytest.fixture
def fresh_kernel(monkeypatch, tmp_path):
    """The kernel loaded again under the environment the test sets, built in an empty cache."""
    monkeypatch.setenv("TEXTGAN_CACHE", str(tmp_path))
    cpu_kernels._library.cache_clear()
    yield
    monkeypatch.undo()
    cpu_kernels._library.cache_clear()


@needs_compiler
def test_kernel_is_built_where_there_is_a_compiler():
    assert cpu_kernels.status().startswith("compiled kernels")


def assert_same_draws_but_at_boundaries(drawn, expected, y, u, tol=1e-5):
    """Equal draws, but where the uniform lies within `tol` of the boundary between the two tokens
    (float64 probabilities): there the order of float32 sums decides. At most 0.2 % of draws."""
    differ = drawn != expected
    assert differ.double().mean() <= 2e-3
    cdf = torch.softmax(y.double(), -1).cumsum(-1)
    rows = differ.nonzero()[:, 0]
    lo, hi = torch.minimum(drawn, expected)[differ], torch.maximum(drawn, expected)[differ]
    target = u.double()[differ]
    assert ((cdf[rows, lo] - target).abs() < tol).all() and ((cdf[rows, hi - 1] - target).abs() < tol).all()


@needs_compiler
@pytest.mark.parametrize("vocab", [1, 7, 128, 129, 5000])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("spread", [4.0, 100.0])
def test_kernel_draws_what_torch_draws_for_the_same_uniforms(vocab, threads, spread):
    """Random logits (narrow, and wide enough that most tokens underflow), bias, temperature and
    masked tokens, each draw decided by its own row."""
    gen = torch.Generator().manual_seed(vocab)
    logits = torch.randn(300, vocab, generator=gen) * spread
    bias = torch.randn(vocab, generator=gen)
    if vocab > 1:
        logits[torch.rand(300, vocab, generator=gen) < 0.3] = float("-inf")
        logits[:, 0] = 0.0  # every row keeps a finite logit
    u = torch.rand(300, 5, generator=gen)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for b, scale in ((None, 1.0), (bias, 1.0), (bias, 0.5), (None, 3.0)):
            drawn = cpu_kernels.draw(logits, u, b, scale)
            assert drawn.shape == (300, 5) and drawn.dtype == torch.long
            y = (logits if b is None else logits + b) * scale
            assert torch.isfinite(y.gather(1, drawn)).all()
            assert_same_draws_but_at_boundaries(drawn, torch_draw(logits, u, b, scale), y, u)
    finally:
        torch.set_num_threads(previous)


@needs_compiler
def test_kernel_never_draws_a_token_without_mass():
    """Uniforms next to 1 and zero, masked tokens at both ends and across whole blocks."""
    logits = torch.full((4, 600), float("-inf"))
    logits[0, 300] = 1.0
    logits[1, :3] = torch.tensor([0.0, 50.0, 0.0])
    logits[2, 200:203] = torch.tensor([-80.0, 0.0, -80.0])
    logits[3, 599] = 2.0
    u = torch.tensor([0.0, 0.5, 1 - 2**-24]).expand(4, 3).contiguous()
    drawn = cpu_kernels.draw(logits, u)
    assert (torch.isfinite(logits.gather(1, drawn))).all()
    assert drawn[0].eq(300).all() and drawn[3].eq(599).all() and drawn[1, 1] == 1 and drawn[2, 1] == 201


@needs_compiler
def test_kernel_frequencies_follow_softmax():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 300, generator=gen)
    draws = sample_logits(logits.expand(60000, -1), generator=gen)[:, 0]
    expected = torch.softmax(logits[0].double(), -1) * len(draws)
    assert chisquare(torch.bincount(draws, minlength=300).double(), expected).pvalue > 1e-3


@needs_compiler
@pytest.mark.parametrize("vocab", [1, 129, 5000])
@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize("spread", [2.0, 50.0])
def test_linear_cross_entropy_equals_torchs_values_and_gradients(vocab, with_bias, spread):
    gen = torch.Generator().manual_seed(vocab)
    features = (torch.randn(70, 16, generator=gen) * spread).requires_grad_()
    weight = torch.randn(vocab, 16, generator=gen).requires_grad_()
    bias = torch.randn(vocab, generator=gen).requires_grad_() if with_bias else None
    targets = torch.randint(vocab, (70,), generator=gen)
    upstream = torch.randn(70, generator=gen)
    inputs = [t for t in (features, weight, bias) if t is not None]
    ours = linear_cross_entropy(features, weight, bias, targets)
    grads = torch.autograd.grad((ours * upstream).sum(), inputs)
    theirs = torch.nn.functional.cross_entropy(torch.nn.functional.linear(features, weight, bias), targets,
                                               reduction="none")
    expected = torch.autograd.grad((theirs * upstream).sum(), inputs)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, expected):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_linear_cross_entropy_refuses_targets_outside_the_vocabulary():
    with pytest.raises(IndexError, match="outside the vocabulary"):
        linear_cross_entropy(torch.randn(3, 4), torch.randn(5, 4), None, torch.tensor([0, 5, 1]))


def test_kernel_declines_what_it_cannot_take():
    logits, u = torch.randn(3, 10), torch.rand(3, 1)
    assert cpu_kernels.draw(logits.double(), u) is None
    assert cpu_kernels.draw(logits[0], u) is None
    assert cpu_kernels.draw(logits, u, bias=torch.zeros(10, dtype=torch.float64)) is None


@pytest.mark.parametrize(("variable", "value", "reason"), [
    ("TEXTGAN_TORCH_ONLY", "1", "TEXTGAN_TORCH_ONLY is set"),
    ("CC", "no-such-compiler-here", "no C compiler"),
    ("CC", "false", "did not build"),
])
def test_without_the_kernel_torch_draws(fresh_kernel, monkeypatch, variable, value, reason):
    monkeypatch.setenv(variable, value)
    assert cpu_kernels.draw(torch.randn(2, 5), torch.rand(2, 1)) is None
    assert cpu_kernels.status().startswith("torch's ops") and reason in cpu_kernels.status()
    gen = torch.Generator().manual_seed(0)
    assert sample_logits(torch.tensor([[0.0, float("-inf"), 5.0]]).expand(50, -1), generator=gen).ne(1).all()
    features, weight, targets = torch.randn(4, 3), torch.randn(6, 3), torch.tensor([0, 5, 2, 2])
    torch.testing.assert_close(linear_cross_entropy(features, weight, None, targets),
                               torch.nn.functional.cross_entropy(features @ weight.T, targets,
                                                                 reduction="none"))


@needs_compiler
def test_kernel_builds_into_the_cache_once(fresh_kernel, tmp_path):
    assert cpu_kernels.status().startswith("compiled kernels")
    built = list(tmp_path.glob("cpu_kernels-*.so"))
    assert len(built) == 1 and not list(tmp_path.glob("*.tmp"))
    stamp = built[0].stat().st_mtime_ns
    cpu_kernels._library.cache_clear()
    assert cpu_kernels.status() == f"compiled kernels {built[0]}" and built[0].stat().st_mtime_ns == stamp
