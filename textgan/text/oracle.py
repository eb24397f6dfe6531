"""The SeqGAN oracle: a fixed random LSTM whose samples are the synthetic benchmark's "real" data.

The recurrence of SeqGAN's `target_lstm.py` (row vectors, gates i, f, o, c):
    i, f, o = σ(x W· + h U· + b·);  c̃ = tanh(x Wc + h Uc + bc);  c = f⊙c + i⊙c̃;  h = o⊙tanh(c)
    logits = h Wo + bo
The input at step 0 is the embedding of token 0 (an ordinary vocabulary id), then the previous token.
Because the input is always an embedding row, `embedding @ W + b` is precomputed for the whole
vocabulary once: a step costs one gather, one (B, H) @ (H, 4H) and the output layer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from textgan.errors import UserError

_GATES = ("i", "f", "og", "c")  # the npz suffixes, in the order of the stacked (E, 4H) matrix


def _shapes(vocab: int, emb: int, hidden: int) -> dict[str, tuple[int, ...]]:
    """The oracle's weights and their shapes; the gates are stacked along the last axis."""
    return {"embedding": (vocab, emb), "W": (emb, 4 * hidden), "U": (hidden, 4 * hidden), "b": (4 * hidden,),
            "Wo": (hidden, vocab), "bo": (vocab,)}


class Oracle(nn.Module):
    """A fixed LSTM language model (weights are buffers: nothing here is ever trained)."""

    start_token = 0

    def __init__(self, embedding: Tensor, W: Tensor, U: Tensor, b: Tensor, Wo: Tensor, bo: Tensor,
                 seq_len: int = 20) -> None:
        super().__init__()
        weights = {"embedding": embedding, "W": W, "U": U, "b": b, "Wo": Wo, "bo": bo}
        for (name, value), shape in zip(weights.items(), _shapes(*embedding.shape, U.shape[0]).values()):
            if tuple(value.shape) != shape:
                raise ValueError(f"oracle weight {name} has shape {tuple(value.shape)}, expected {shape}")
            self.register_buffer(name, value.detach().clone())
        self.seq_len = seq_len

    @property
    def vocab_size(self) -> int:
        return self.embedding.shape[0]

    @classmethod
    def from_npz(cls, path: str | Path, seq_len: int = 20) -> Oracle:
        """Load the SeqGAN oracle (`target_params.npz`: embedding, W·/U·/b· per gate, Wo, bo)."""
        try:
            with np.load(path) as npz:
                arrays = {k: torch.from_numpy(npz[k]) for k in npz.files}
        except FileNotFoundError:
            raise UserError(f"oracle weights not found: {path}") from None
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read oracle weights {path}: {exc}") from None
        missing = [n for n in ["embedding", "Wo", "bo"] + [m + g for g in _GATES for m in "WUb"]
                   if n not in arrays]
        if missing:
            raise UserError(f"{path} is not an oracle npz: missing {', '.join(missing)}")

        def stack(m: str) -> Tensor:
            return torch.cat([arrays[m + g] for g in _GATES], dim=-1)

        return cls(arrays["embedding"], stack("W"), stack("U"), stack("b"),
                   arrays["Wo"], arrays["bo"], seq_len)

    @classmethod
    def random(cls, vocab_size: int, seq_len: int = 20, emb: int = 32, hidden: int = 32,
               seed: int = 0) -> Oracle:
        """The same architecture with every weight drawn from N(0, 1), as SeqGAN/Texygen do."""
        gen = torch.Generator().manual_seed(seed)
        weights = [torch.randn(shape, generator=gen) for shape in _shapes(vocab_size, emb, hidden).values()]
        return cls(*weights, seq_len=seq_len)

    def _step(self, gate_x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One LSTM step from precomputed input gates; returns logits, h, c."""
        i, f, o, g = (gate_x + h @ self.U).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return torch.addmm(self.bo, h, self.Wo), h, c

    def _batch_size(self) -> int:
        """Sequences per pass: (256, vocab) logits stay in a CPU's cache; a GPU wants large batches."""
        return 256 if self.U.device.type == "cpu" else 8192

    def _zeros(self, n: int) -> tuple[Tensor, Tensor]:
        h = self.U.new_zeros(n, self.U.shape[0])
        return h, h.clone()

    @torch.no_grad()
    def sample(self, n: int, seq_len: int | None = None, generator: torch.Generator | None = None,
               batch_size: int | None = None) -> Tensor:
        """Draw `n` sequences (LongTensor (n, seq_len)) by inverse-CDF sampling.

        All uniforms are drawn up front from `generator` (float64, whatever the oracle's dtype), so on
        CPU the result does not depend on `batch_size` and is reproducible from the generator's seed
        (another device or dtype rounds the CDF differently and flips a token now and then).
        """
        seq_len = self.seq_len if seq_len is None else seq_len
        batch_size = batch_size or self._batch_size()
        device = generator.device if generator is not None else torch.device("cpu")
        uniforms = torch.rand(seq_len, n, generator=generator, device=device, dtype=torch.float64)
        uniforms = uniforms.to(self.U.device, self.U.dtype)
        table = self.embedding @ self.W + self.b
        out = torch.empty(seq_len, n, dtype=torch.long, device=self.U.device)
        for lo in range(0, n, batch_size):
            h, c = self._zeros(min(batch_size, n - lo))
            token = torch.full((len(h),), self.start_token, dtype=torch.long, device=out.device)
            for t in range(seq_len):
                logits, h, c = self._step(table[token], h, c)
                cdf = torch.softmax(logits, dim=-1).cumsum_(dim=-1)
                u = uniforms[t, lo : lo + batch_size, None]
                token = torch.searchsorted(cdf, u).squeeze(1).clamp_(max=self.vocab_size - 1)
                out[t, lo : lo + batch_size] = token
        return out.T.contiguous()

    @torch.no_grad()
    def nll(self, tokens: Tensor, batch_size: int | None = None) -> Tensor:
        """Per-sequence mean per-token negative log-likelihood (natural log), teacher forced."""
        if tokens.dim() != 2 or tokens.dtype not in (torch.long, torch.int32):
            raise ValueError(f"tokens must be an integer tensor (n, seq_len), got {tuple(tokens.shape)}")
        if tokens.numel() and (tokens.min() < 0 or tokens.max() >= self.vocab_size):
            raise UserError(f"token ids must lie in [0, {self.vocab_size}) for this oracle, "
                            f"got [{int(tokens.min())}, {int(tokens.max())}]")
        tokens = tokens.to(self.U.device, torch.long)
        batch_size = batch_size or self._batch_size()
        inputs = torch.cat([torch.full_like(tokens[:, :1], self.start_token), tokens[:, :-1]], dim=1)
        table = self.embedding @ self.W + self.b
        out = torch.empty(len(tokens), dtype=self.U.dtype, device=self.U.device)
        for lo in range(0, len(tokens), batch_size):
            gate_x = table[inputs[lo : lo + batch_size]]
            target = tokens[lo : lo + batch_size]
            h, c = self._zeros(len(target))
            total = torch.zeros_like(h[:, 0])
            for t in range(tokens.shape[1]):
                logits, h, c = self._step(gate_x[:, t], h, c)
                total += F.cross_entropy(logits, target[:, t], reduction="none")
            out[lo : lo + batch_size] = total / tokens.shape[1]
        return out


def make_oracle_dataset(oracle: Oracle, n: int = 10_000, seq_len: int = 20, seed: int = 0) -> Tensor:
    """The oracle's training set: `n` samples of `seq_len`, the same for the same seed."""
    return oracle.sample(n, seq_len, generator=torch.Generator().manual_seed(seed))
