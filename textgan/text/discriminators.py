"""Text discriminators: SeqGAN's CNN and RelGAN's CNN with multiple embedded representations.

Both take token ids (B, T) or soft one-hots (B, T, V): ids through an embedding lookup, soft inputs
through a matmul with the same embedding table (never a dense one-hot built from ids). Layers are
plain `nn.Conv*` / `nn.Linear`, so the core can wrap them in spectral norm.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from textgan.errors import UserError


def embed(embedding: nn.Embedding, x: Tensor) -> Tensor:
    """(B, T, E): lookup for token ids, `soft @ embedding.weight` for soft one-hots (B, T, V)."""
    return x @ embedding.weight if x.is_floating_point() else embedding(x)


def _windows(e: Tensor, width: int) -> Tensor:
    """The windows of `width` steps of e (B, T, E), each flattened like a Conv1d filter: (B, L, E * width)."""
    if width == e.shape[1]:
        # the one window as a reshape: under torch.compile, inductor (torch 2.13, CPU) corrupted the
        # heap in the backward of an `unfold` whose window spans the whole sequence (checked)
        return e.transpose(1, 2).flatten(1)[:, None]
    return e.unfold(1, width, 1).flatten(2)


def _filters(filter_sizes: tuple[int, ...],
             num_filters: tuple[int, ...], seq_len: int) -> list[tuple[int, int]]:
    """(width, maps) pairs, skipping filters wider than the sequence."""
    if len(filter_sizes) != len(num_filters):
        raise UserError("filter_sizes and num_filters must have the same length")
    pairs = [(f, n) for f, n in zip(filter_sizes, num_filters) if f <= seq_len]
    if not pairs:
        raise UserError(f"every filter is wider than the sequence length {seq_len}")
    return pairs


class Highway(nn.Module):
    """One highway layer: t * relu(W_h x) + (1 - t) * x with gate t = sigmoid(W_t x) (SeqGAN, RelGAN).

    `shared=True` uses one matrix for both W_h and W_t, as TextGAN-PyTorch does: half the cost,
    which matters because this layer dominates RelGAN's discriminator FLOPs.
    """

    def __init__(self, dim: int, bias: bool = True, shared: bool = False) -> None:
        super().__init__()
        self.transform = nn.Linear(dim, dim, bias=bias)
        self.gate = None if shared else nn.Linear(dim, dim, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        h = self.transform(x)
        t = (h if self.gate is None else self.gate(x)).sigmoid()
        return t * h.relu() + (1 - t) * x


def init_like_relgan(d: nn.Module) -> None:
    """RelGAN's TensorFlow initialisers (`utils/ops.py`), in place: truncated normals cut at two
    standard deviations, std 1/sqrt(vocabulary) for the embedding (it multiplies one-hot rows),
    1/sqrt(fan-in) for linear layers and sqrt(2/fan-in) for convolutions; every bias zero."""
    def trunc(t: Tensor, std: float) -> None:
        nn.init.trunc_normal_(t, std=std, a=-2 * std, b=2 * std)

    with torch.no_grad():
        for m in d.modules():
            if isinstance(m, nn.Embedding):
                trunc(m.weight, m.num_embeddings**-0.5)
            elif isinstance(m, (nn.Linear, nn.Conv2d)):
                fan_in = m.weight[0].numel()
                trunc(m.weight, (2 / fan_in) ** 0.5 if isinstance(m, nn.Conv2d) else fan_in**-0.5)
                if m.bias is not None:
                    m.bias.zero_()


@contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    """The module in eval mode (no dropout, frozen spectral-norm estimates) inside the block."""
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


class SeqGANDiscriminator(nn.Module):
    """SeqGAN's CNN: embedding, convolutions of many widths over the whole embedding, max-over-time
    pooling, a highway layer, dropout and a linear layer to one logit per sequence (B,), or with
    `outputs` > 1 to that many logits per sequence (B, outputs): SentiGAN's (k+1)-class D, and
    without the highway Kim's (2014) CNN sentence classifier.

    `head=False` leaves the linear layer out: the output is then each sequence's feature vector after
    the highway and dropout (B, sum of maps), as RankGAN's ranker compares them.
    """

    def __init__(self, vocab_size: int, seq_len: int, emb_dim: int = 64,
                 filter_sizes: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15, 20),
                 num_filters: tuple[int, ...] = (100, 200, 200, 200, 200, 100, 100, 100, 100, 100, 160, 160),
                 dropout: float = 0.25, highway: bool = True, shared_highway: bool = False,
                 outputs: int = 1, head: bool = True) -> None:
        super().__init__()
        pairs = _filters(filter_sizes, num_filters, seq_len)
        dim = sum(n for _, n in pairs)
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.convs = nn.ModuleList(nn.Conv1d(emb_dim, n, f) for f, n in pairs)
        self.highway = Highway(dim, shared=shared_highway) if highway else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(dim, outputs) if head else None

    def _head(self, features: Tensor) -> Tensor:
        features = self.dropout(features)
        return features if self.out is None else self.out(features).squeeze(-1)

    def features(self, x: Tensor) -> Tensor:
        """The feature layer under the output (B, sum of maps): the highway's output on the pooled
        convolutions, before dropout. LeakGAN leaks it to the generator."""
        e = embed(self.embedding, x)  # (B, T, E)
        # Each convolution is one matmul of its windows (B, L, E * width) by the flattened filters: on
        # CPU, forward and backward, faster than nn.Conv1d for these short sequences. The max over
        # time comes before the bias and the ReLU: the same value, on a T-times smaller tensor.
        pooled = [(_windows(e, conv.kernel_size[0]) @ conv.weight.flatten(1).t()).amax(1) + conv.bias
                  for conv in self.convs]
        return self.highway(torch.cat(pooled, dim=1).relu())

    def forward(self, x: Tensor) -> Tensor:
        return self._head(self.features(x))

    @torch.no_grad()
    def scorer(self, features: bool = False) -> Callable[[Tensor], Tensor]:
        """An eval-mode scorer of token ids (N, T) -> logits (N,) (features (N, F) with `head=False`),
        valid while D's weights are unchanged; `features=True` gives the feature layer (N, F) instead
        (`features`, as LeakGAN leaks it).

        Each filter offset's response to each vocabulary token is tabulated once (V x sum(width x
        maps) floats: 250 MB for V = 5000 and SeqGAN's filters), so a convolution becomes a sum of
        table rows (`embedding_bag`): several times faster when scoring thousands of sequences with
        fixed weights, as SeqGAN's Monte-Carlo rollouts do.
        """
        vocab = self.embedding.num_embeddings
        with _eval_mode(self):
            # row k * V + v of a filter's table: offset k's response to token v
            tables = [(self.embedding.weight @ conv.weight.permute(2, 1, 0)).flatten(0, 1)
                      for conv in self.convs]
            biases = [conv.bias.clone() for conv in self.convs]

        @torch.no_grad()
        def score(tokens: Tensor) -> Tensor:
            pooled = []
            for table, bias in zip(tables, biases):
                width = len(table) // vocab
                idx = tokens.unfold(1, width, 1) + torch.arange(width, device=tokens.device) * vocab
                resp = F.embedding_bag(idx.reshape(-1, width), table, mode="sum")
                pooled.append(resp.view(len(tokens), -1, resp.shape[1]).amax(1) + bias)
            with _eval_mode(self):
                h = self.highway(torch.cat(pooled, dim=1).relu())
                return h if features else self._head(h)

        return score


class RelGANDiscriminator(nn.Module):
    """RelGAN's CNN with `num_rep` embedded representations.

    The embedding (width emb_dim) is split into num_rep slices of emb_dim / num_rep features (1 with
    the defaults); every filter slides over time within one slice, the stride across slices makes
    each slice a separate representation. After max-over-time pooling each (sample, representation)
    has its own feature vector -> highway (bias-free, as in RelGAN) -> dropout -> linear 100 ->
    linear 1. As in RelGAN the output is one logit per representation, flattened sample-major:
    (B * num_rep,), so `logits.view(B, num_rep)[b]` are sample b's, and real and fake batches align
    position by position for the relativistic losses. With `outputs` > 1 each representation has
    that many logits, (B * num_rep, outputs): one head per category (CatGAN's D).
    """

    def __init__(self, vocab_size: int, seq_len: int, emb_dim: int = 64, num_rep: int = 64,
                 filter_sizes: tuple[int, ...] = (2, 3, 4, 5),
                 num_filters: tuple[int, ...] = (300, 300, 300, 300), dropout: float = 0.25,
                 shared_highway: bool = False, outputs: int = 1) -> None:
        super().__init__()
        if emb_dim % num_rep:
            raise UserError(f"emb_dim {emb_dim} is not a multiple of num_rep {num_rep}")
        pairs = _filters(filter_sizes, num_filters, seq_len)
        rep_dim = emb_dim // num_rep
        dim = sum(n for _, n in pairs)
        self.embedding = nn.Embedding(vocab_size, emb_dim)
        self.convs = nn.ModuleList(nn.Conv2d(1, n, (f, rep_dim), stride=(1, rep_dim)) for f, n in pairs)
        self.highway = Highway(dim, bias=False, shared=shared_highway)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(dim, 100)
        self.out = nn.Linear(100, outputs)

    def forward(self, x: Tensor) -> Tensor:
        e = _embed_eagerly(self.embedding, x)  # (B, T, E)
        # each weight read once: a spectral-norm parametrization runs per read
        # (B, num_rep, F)
        pooled = _max_over_time(e, [(conv.weight, conv.bias) for conv in self.convs]).relu()
        h = pooled.flatten(0, 1)  # (B * num_rep, F), sample-major
        return self.out(self.fc(self.dropout(self.highway(h)))).squeeze(-1)


@torch.compiler.disable
def _embed_eagerly(embedding: nn.Embedding, x: Tensor) -> Tensor:
    """`embed` outside `train.compile`'s graph: there inductor fused the lookup into the pooling loops,
    repeating it for every map and offset (far slower than pooling a looked-up input)."""
    return embed(embedding, x)


_CHUNK = 8  # samples per convolution call: keeps the (chunk, maps, T, num_rep) responses in cache


def _max_over_time(e: Tensor, banks: list[tuple[Tensor, Tensor]]) -> Tensor:
    """Max over time of each filter bank's (weight, bias) responses to the representations of e (B, T, E),
    concatenated: (B, num_rep, total maps).

    The responses (B x maps x T x num_rep: a thousand times the input) are never kept for autograd.
    When a gradient is wanted, the offsets of the maxima come without autograd and only the winning
    window of each (sample, representation, map) is recomputed, differentiably: the same values and
    (sub)gradients as autograd through max-pooling. Otherwise (no grad mode, or nothing to
    differentiate, as for the reals in a generator step with D frozen) the maxima alone come from
    `amax`, many times cheaper than a max with indices. The bias is added after the max: the same
    value (rounding is monotonic) on a T-times smaller tensor.
    """
    wants_grad = e.requires_grad or any(w.requires_grad or b.requires_grad for w, b in banks)
    if not (torch.is_grad_enabled() and wants_grad):
        return torch.cat([(_pooled(e, w, offsets=False) + b[:, None]).transpose(1, 2) for w, b in banks],
                         dim=-1)
    best = [_pooled(e.detach(), w.detach(), offsets=True) for w, _ in banks]
    return _winning_responses(e, banks, best)


def _pooled(e: Tensor, weight: Tensor, offsets: bool) -> Tensor:
    """Max over time of the bias-free responses of one filter bank to e (B, T, E), or the time offsets
    of the first maxima: (B, maps, num_rep).

    Under `train.compile`, with one feature per representation (RelGAN's default), the maximum runs
    over the offsets in pointwise ops that inductor fuses into one loop, so the responses are never
    stored: with RelGAN's widths, faster than the chunked convolution and than inductor's argmax over
    the responses. With wider representations the convolution is faster.
    """
    maps, _, width, rep_dim = weight.shape
    if not (torch.compiler.is_compiling() and rep_dim == 1):
        responses = (F.conv2d(chunk, weight, stride=(1, rep_dim)) for chunk in e.unsqueeze(1).split(_CHUNK))
        return torch.cat([r.max(2).indices if offsets else r.amax(2) for r in responses])
    x, w = e[:, None], weight.view(1, maps, width, 1)

    def response(start: int) -> Tensor:  # (B, maps, num_rep)
        return sum(x[:, :, start + j] * w[:, :, j] for j in range(width))

    best = response(0)
    at = torch.zeros(best.shape, dtype=torch.long, device=best.device)
    for start in range(1, e.shape[1] - width + 1):
        r = response(start)
        if offsets:
            at = torch.where(r > best, start, at)
        best = torch.maximum(best, r)
    return at if offsets else best


@torch.compiler.disable  # inductor (torch 2.13, CPU) segfaults in the backward of its gather (checked)
def _winning_responses(e: Tensor, banks: list[tuple[Tensor, Tensor]], best: list[Tensor]) -> Tensor:
    """Each bank's responses at the offsets `best` (B, maps, num_rep), differentiable:
    (B, num_rep, total maps)."""
    b, t, emb_dim = e.shape
    pooled = []
    for (weight, bias), offsets in zip(banks, best):
        maps, _, width, rep_dim = weight.shape
        # windows[b, r, s] = e[b, s:s + width, r * rep_dim:(r + 1) * rep_dim], flattened like a filter
        windows = e.unfold(1, width, 1).view(b, t - width + 1, emb_dim // rep_dim, rep_dim, width)
        windows = windows.permute(0, 2, 1, 4, 3).flatten(3)  # (B, num_rep, L, width * rep_dim)
        k = windows.shape[-1]
        # (B, num_rep, maps, k)
        chosen = windows.gather(2, offsets.transpose(1, 2)[..., None].expand(-1, -1, -1, k))
        pooled.append((chosen * weight.view(maps, k)).sum(-1) + bias)
    return torch.cat(pooled, dim=-1)
