"""The compiled draw kernel against torch's inverse CDF: the same tokens for the same uniforms, never a
token without mass, softmax's frequencies, and torch's ops whenever the kernel cannot be had."""

import shutil

import pytest
import torch
from scipy.stats import chisquare

from textgan.text import draw_kernel
from textgan.text.generators import sample_logits

needs_compiler = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")


def torch_draw(logits, u, bias=None, scale=1.0):
    y = (logits if bias is None else logits + bias) * scale
    cdf = torch.softmax(y, -1).cumsum(-1)
    return torch.searchsorted(cdf, u * cdf[:, -1:], right=True).clamp_max_(y.shape[-1] - 1)


@pytest.fixture
def fresh_kernel(monkeypatch, tmp_path):
    """The kernel loaded again under the environment the test sets, built in an empty cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    draw_kernel._library.cache_clear()
    yield
    monkeypatch.undo()
    draw_kernel._library.cache_clear()


@needs_compiler
def test_kernel_is_built_where_there_is_a_compiler():
    assert draw_kernel.status().startswith("compiled kernel")


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
def test_kernel_draws_what_torch_draws_for_the_same_uniforms(vocab, threads):
    """Random logits, bias, temperature and masked tokens, each draw decided by its own row."""
    gen = torch.Generator().manual_seed(vocab)
    logits = torch.randn(300, vocab, generator=gen) * 4
    bias = torch.randn(vocab, generator=gen)
    if vocab > 1:
        logits[torch.rand(300, vocab, generator=gen) < 0.3] = float("-inf")
        logits[:, 0] = 0.0  # every row keeps a finite logit
    u = torch.rand(300, 5, generator=gen)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for b, scale in ((None, 1.0), (bias, 1.0), (bias, 0.5), (None, 3.0)):
            drawn = draw_kernel.draw(logits, u, b, scale)
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
    drawn = draw_kernel.draw(logits, u)
    assert (torch.isfinite(logits.gather(1, drawn))).all()
    assert drawn[0].eq(300).all() and drawn[3].eq(599).all() and drawn[1, 1] == 1 and drawn[2, 1] == 201


@needs_compiler
def test_kernel_frequencies_follow_softmax():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(1, 300, generator=gen)
    draws = sample_logits(logits.expand(60000, -1), generator=gen)[:, 0]
    expected = torch.softmax(logits[0].double(), -1) * len(draws)
    assert chisquare(torch.bincount(draws, minlength=300).double(), expected).pvalue > 1e-3


def test_kernel_declines_what_it_cannot_take():
    logits, u = torch.randn(3, 10), torch.rand(3, 1)
    assert draw_kernel.draw(logits.double(), u) is None
    assert draw_kernel.draw(logits[0], u) is None
    assert draw_kernel.draw(logits, u, bias=torch.zeros(10, dtype=torch.float64)) is None


@pytest.mark.parametrize(("variable", "value", "reason"), [
    ("TEXTGAN_TORCH_SAMPLING", "1", "TEXTGAN_TORCH_SAMPLING is set"),
    ("CC", "no-such-compiler-here", "no C compiler"),
    ("CC", "false", "did not build"),
])
def test_without_the_kernel_torch_draws(fresh_kernel, monkeypatch, variable, value, reason):
    monkeypatch.setenv(variable, value)
    assert draw_kernel.draw(torch.randn(2, 5), torch.rand(2, 1)) is None
    assert draw_kernel.status().startswith("torch's ops") and reason in draw_kernel.status()
    gen = torch.Generator().manual_seed(0)
    assert sample_logits(torch.tensor([[0.0, float("-inf"), 5.0]]).expand(50, -1), generator=gen).ne(1).all()


@needs_compiler
def test_kernel_builds_into_the_cache_once(fresh_kernel, tmp_path):
    assert draw_kernel.status().startswith("compiled kernel")
    built = list((tmp_path / "textgan").glob("draw_kernel-*.so"))
    assert len(built) == 1 and not list((tmp_path / "textgan").glob("*.tmp"))
    stamp = built[0].stat().st_mtime_ns
    draw_kernel._library.cache_clear()
    assert draw_kernel.status() == f"compiled kernel {built[0]}" and built[0].stat().st_mtime_ns == stamp
