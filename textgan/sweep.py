"""Quality–diversity curves over the sampling temperature ("Language GANs Falling Short", Caccia et al.).

Why: a single BLEU or NLL_oracle number mixes quality with diversity, and lowering the temperature
buys quality with diversity; GANs and MLE only compare fairly as whole curves. At each temperature T
the generator's softmax is sharpened (T < 1) or flattened (T > 1), then
- quality: NLL_oracle of its samples (oracle data) or BLEU-n against the references (real text);
- diversity: NLL_gen of the tempered model on the test set (can it still explain held-out text?),
  and Self-BLEU-n and distinct-n of its samples (real text);
- on request, Caccia et al.'s LM score (quality) and reverse LM score (diversity), see
  `textgan.metrics.lm_score`.
The core is generic over any generator with `sample(n, seq_len, temperature)` and teacher-forced
`forward(tokens) -> logits`; `textgan sweep RUN_DIR` only loads a run into it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from textgan.errors import UserError
from textgan.evaluate import evaluate_tokens
from textgan.metrics.lm_score import LSTMLanguageModel, mean_nll, reverse_lm_score
from textgan.metrics.nll import NLLOracle, nll_gen, nll_oracle
from textgan.progress import progress

CHUNK = 1000  # sequences per sampling pass


class Tempered(nn.Module):
    """A generator whose next-token distribution is softmax(logits / T): the model that temperature-T
    sampling draws from, so its NLL on test data is the diversity side of the curve."""

    def __init__(self, generator: nn.Module, temperature: float) -> None:
        super().__init__()
        if not temperature > 0:
            raise UserError(f"temperatures must be > 0, got {temperature}")
        self.generator, self.temperature = generator, temperature
        self.train(generator.training)  # scoring restores this flag on both

    def log_probs(self, tokens: Tensor) -> Tensor:
        logits = self.generator(tokens) / self.temperature
        return torch.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def sweep(
    generator: Any,
    temperatures: Sequence[float],
    n_samples: int,
    seq_len: int,
    test_tokens: Tensor,
    *,
    pad_id: int | None,
    eos_id: int | None = None,
    oracle: NLLOracle | None = None,
    decode: Callable[[Tensor], list[str]] | None = None,
    references: Sequence[str] | None = None,
    tokenize: Callable[[str], list[str]] | None = None,
    orders: Sequence[int] = (2, 5),
    distinct_orders: Sequence[int] = (2, 4),
    lm: LSTMLanguageModel | None = None,
    reverse_lm: bool = False,
    seed: int = 0,
    row_tokens: Callable[[Tensor], list[list[str]]] | None = None,
) -> list[dict[str, float]]:
    """One row per temperature: `temperature`, `nll_gen` (tempered model on `test_tokens`, padding
    excluded), `nll_oracle` (with an oracle), `bleu_n` and `self_bleu_n` for n in `orders` and
    `distinct_n` for n in `distinct_orders` (with `decode`, `references` and `tokenize`: real text;
    every sample against every reference, Self-BLEU leave-one-out; with `row_tokens` instead, the
    samples' token strings, distinct-n alone: the oracle's ids), `lm_score` (the samples under `lm`,
    an LM trained on real training rows) and `reverse_lm_score` (with `reverse_lm`: `test_tokens`
    under an LM trained on the samples). Samples are drawn with the same seed at every T."""
    _check_temperatures(temperatures)
    text = decode is not None and references is not None and tokenize is not None
    distinct = [f"distinct_{n}" for n in distinct_orders]
    metrics = [f"{kind}_{n}" for kind in ("bleu", "self_bleu") for n in orders] + distinct
    reference_tokens = [tokenize(r) for r in references] if text else None
    rows = []
    was_training = generator.training
    generator.eval()  # no dropout in sampling or scoring
    try:
        for t in progress(temperatures, "sweep", unit="T"):
            tempered = Tempered(generator, t)
            torch.manual_seed(seed)
            samples = torch.cat([generator.sample(min(CHUNK, n_samples - lo), seq_len, temperature=t)
                                 for lo in range(0, n_samples, CHUNK)]).cpu()
            row = {"temperature": float(t),
                   "nll_gen": nll_gen(tempered, test_tokens, pad_id=pad_id, eos_id=eos_id)}
            if oracle is not None:
                row["nll_oracle"] = nll_oracle(oracle, samples)
            if text:
                row |= evaluate_tokens([tokenize(s) for s in decode(samples)], reference_tokens, metrics)
            elif row_tokens is not None:
                row |= evaluate_tokens(row_tokens(samples), metrics=distinct)
            if lm is not None:
                row["lm_score"] = mean_nll(lm, samples, pad_id)
            if reverse_lm:
                row["reverse_lm_score"] = reverse_lm_score(samples, test_tokens.cpu(),
                                                           generator.vocab_size, pad_id)
            rows.append(row)
    finally:
        generator.train(was_training)
    return rows


def _check_temperatures(temperatures: Sequence[float]) -> None:
    if not temperatures:
        raise UserError("no temperatures given")
    for t in temperatures:
        if not t > 0:
            raise UserError(f"temperatures must be > 0, got {t}")


def format_table(rows: Sequence[dict[str, float]]) -> str:
    """The rows as an aligned text table, one line per temperature."""
    names = list(rows[0])
    lines = ["  ".join(f"{n:>12}" for n in names)]
    lines += ["  ".join(f"{row[n]:>12.4f}" for n in names) for row in rows]
    return "\n".join(lines)


AXIS_LABELS = {
    "nll_gen": "NLL_gen, nats/token (lower = more diverse)",
    "nll_oracle": "NLL_oracle, nats/token (lower = better)",
    "lm_score": "LM score, nats/token (lower = better)",
    "reverse_lm_score": "reverse LM score, nats/token (lower = more diverse)",
    "temperature": "sampling temperature",
    **{f"bleu_{n}": f"BLEU-{n} (higher = better)" for n in range(2, 6)},
    **{f"self_bleu_{n}": f"Self-BLEU-{n} (lower = more diverse)" for n in range(2, 6)},
    **{f"distinct_{n}": f"distinct-{n}, share of n-grams that are distinct (higher = more diverse)"
       for n in range(1, 5)},
}


def frontier_pairs(row: dict[str, float]) -> list[tuple[str, str]]:
    """The (x, y) quality–diversity pairs a row supports: NLL_oracle against NLL_gen and against
    distinct-2 (oracle data), BLEU against Self-BLEU at the highest order swept (real text), LM score
    against reverse LM score."""
    bleu = sorted(int(k.split("_")[-1]) for k in row if k.startswith("bleu_"))
    pairs = [("nll_gen", "nll_oracle")] if "nll_oracle" in row else []
    pairs += [("distinct_2", "nll_oracle")] if {"nll_oracle", "distinct_2"} <= set(row) else []
    pairs += [(f"self_bleu_{bleu[-1]}", f"bleu_{bleu[-1]}")] if bleu else []
    pairs += [("reverse_lm_score", "lm_score")] if {"lm_score", "reverse_lm_score"} <= set(row) else []
    return pairs or [("temperature", "nll_gen")]


def _legend_below(fig: Any, axes: Sequence[Any]) -> None:
    """One legend for all panels, under them, so it never covers a curve."""
    entries: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    rows = (len(entries) + 3) // 4
    fig.set_figheight(fig.get_figheight() + 0.25 * rows)
    fig.tight_layout(rect=(0, 0.05 * rows, 1, 1))
    if entries:
        fig.legend(entries.values(), entries.keys(), loc="lower center", ncol=min(4, len(entries)),
                   fontsize=8, frameon=False)


def plot_sweep(curves: dict[str, Sequence[dict[str, float]]], path: Path,
               marks: dict[str, tuple[str, float, str]] | None = None) -> None:
    """The quality–diversity curves of one or more runs as one PNG, a panel per pair the runs share
    (`frontier_pairs`), each point labelled with its temperature; `marks[label] = (metric, value,
    legend)` draws a dashed line in the run's colour at a published value of that metric. Lower-left
    is better for NLLs and LM scores, lower-right for NLL_oracle against distinct-2, upper-left for
    BLEU against Self-BLEU."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from textgan.storage import atomic_save_figure

    shared = set.intersection(*(set(rows[0]) for rows in curves.values()))
    pairs = frontier_pairs({k: 0.0 for k in shared})
    fig, axes = plt.subplots(1, len(pairs), figsize=(6.5 * len(pairs), 5), squeeze=False)
    for ax, (x, y) in zip(axes[0], pairs):
        for i, (label, rows) in enumerate(curves.items()):
            colour = f"C{i}"
            ax.plot([r[x] for r in rows], [r[y] for r in rows], marker="o", color=colour,
                    label=label if len(curves) > 1 else None)
            for r in rows:
                ax.annotate(f"{r['temperature']:g}", (r[x], r[y]), fontsize=7, color=colour, xytext=(3, 3),
                            textcoords="offset points")
            metric, value, legend = (marks or {}).get(label, ("", 0.0, ""))
            if metric == y:
                ax.axhline(value, color=colour, linestyle="--", linewidth=0.8, label=legend)
        ax.set_xlabel(AXIS_LABELS.get(x, x), fontsize=9)
        ax.set_ylabel(AXIS_LABELS.get(y, y), fontsize=9)
        ax.margins(0.12)  # room for the temperature labels at the ends of the curves
        ax.grid(alpha=0.3)
    fig.suptitle("quality–diversity over sampling temperature (point labels: T)")
    _legend_below(fig, axes[0])
    atomic_save_figure(fig, Path(path))
    plt.close(fig)
