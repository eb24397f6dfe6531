"""Caccia et al.'s LM score and reverse LM score ("Language GANs Falling Short", ICLR 2020).

Why: on real text there is no oracle, so a language model trained on one side scores the other.
- LM score (quality): an LSTM language model trained on the real training text scores the samples.
- Reverse LM score (diversity and coverage): an LSTM language model trained on the samples scores
  the real test text; a collapsed generator's samples teach it little, so the real text scores badly.
Both are per-token NLL in nats (lower is better), padding excluded, the end-of-sentence token counted.

The scoring model is fixed here so that numbers compare across runs and papers' settings never leak
in: an LSTM (embedding 64, hidden 128) trained with Adam (lr 3e-3, gradient norm clipped at 5) on
batches of 64 rows for at most 1,500 steps, keeping the weights that score best on a held-out tenth
of its training rows (checked every 250 steps). Seeded, so the same rows give the same score.
Rows are token ids (n, T) of one vocabulary, as the text games encode them; nothing here imports
`textgan.text`.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from textgan.progress import progress_bar

EMB_DIM, HIDDEN_DIM = 64, 128
BATCH_SIZE, LEARNING_RATE, CLIP_NORM = 64, 3e-3, 5.0
MAX_STEPS, EVAL_EVERY, HELDOUT_FRACTION = 1500, 250, 0.1


class LSTMLanguageModel(nn.Module):
    """Embedding, one LSTM layer, linear output; its own start token (id `vocab_size`) begins every row."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size + 1, EMB_DIM)
        self.lstm = nn.LSTM(EMB_DIM, HIDDEN_DIM, batch_first=True)
        self.out = nn.Linear(HIDDEN_DIM, vocab_size)

    def log_probs(self, rows: Tensor) -> Tensor:
        """Teacher-forced log-probability of every token of `rows` (B, T)."""
        start = torch.full_like(rows[:, :1], self.vocab_size)
        h, _ = self.lstm(self.embedding(torch.cat([start, rows[:, :-1]], dim=1)))
        return F.log_softmax(self.out(h), dim=-1).gather(-1, rows.unsqueeze(-1)).squeeze(-1)


def _mask(rows: Tensor, pad_id: int | None) -> Tensor:
    return torch.ones_like(rows, dtype=torch.bool) if pad_id is None else rows != pad_id


@torch.no_grad()
def mean_nll(model: LSTMLanguageModel, rows: Tensor, pad_id: int | None, batch_size: int = 500) -> float:
    """Per-token NLL (nats) of `rows` under `model`, padding excluded."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for lo in range(0, len(rows), batch_size):
        batch = rows[lo : lo + batch_size]
        mask = _mask(batch, pad_id)
        total -= float(model.log_probs(batch)[mask].double().sum())
        count += int(mask.sum())
    model.train(was_training)
    return total / max(count, 1)


def train_language_model(rows: Tensor, vocab_size: int, pad_id: int | None, seed: int = 0,
                         desc: str = "training a scoring LM") -> LSTMLanguageModel:
    """The fixed scoring LM trained on `rows` (see the module docstring), best held-out weights kept."""
    if len(rows) < 10:
        raise ValueError(f"a language model needs at least 10 rows to train on, got {len(rows)}")
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LSTMLanguageModel(vocab_size)
    order = torch.randperm(len(rows), generator=gen)
    n_held = max(1, int(len(rows) * HELDOUT_FRACTION))
    held, train = rows[order[:n_held]], rows[order[n_held:]]
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    best, best_state = float("inf"), copy.deepcopy(model.state_dict())
    with progress_bar(MAX_STEPS, desc, unit="step") as bar:
        for step in range(1, MAX_STEPS + 1):
            batch = train[torch.randint(len(train), (BATCH_SIZE,), generator=gen)]
            mask = _mask(batch, pad_id)
            loss = -model.log_probs(batch)[mask].mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
            optimizer.step()
            if step % EVAL_EVERY == 0:
                score = mean_nll(model, held, pad_id)
                if score < best:
                    best, best_state = score, copy.deepcopy(model.state_dict())
            bar.update()
    model.load_state_dict(best_state)
    return model.eval()


def lm_score(samples: Tensor, real_train: Tensor, vocab_size: int, pad_id: int | None,
             model: LSTMLanguageModel | None = None) -> float:
    """Quality: the samples' per-token NLL under an LM trained on the real training rows (pass `model`
    to reuse one, as a temperature sweep does)."""
    model = model or train_language_model(real_train, vocab_size, pad_id)
    return mean_nll(model, samples, pad_id)


def reverse_lm_score(samples: Tensor, real_test: Tensor, vocab_size: int, pad_id: int | None) -> float:
    """Diversity and coverage: the real test rows' per-token NLL under an LM trained on the samples."""
    return mean_nll(train_language_model(samples, vocab_size, pad_id,
                                         desc="reverse LM score: an LM of the samples"),
                    real_test, pad_id)
