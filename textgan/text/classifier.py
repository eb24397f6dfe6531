"""A CNN sentence classifier trained by textgan on labelled real sentences: the judge of the
category-conditional families' `class_accuracy` (the share of generated sentences of category c
that it labels c), as the image game's digit classifier judges generated digits.

The network is Kim's (2014) CNN-rand (random embeddings, convolutions of widths 3, 4 and 5 with 100
maps each, max-over-time pooling, dropout 0.5, a linear layer), built from `SeqGANDiscriminator`
without its highway. As TextGAN-PyTorch's classifier, it trains on the sentences the generator
never trains on (the test rows) and is scored on the generator's training rows, which it never
saw: both its accuracy there and `class_accuracy` are then rates on sentences new to it. It is
trained once per data set and cached on disk (`text_classifier_<key>.pt`, written atomically, read
with `torch.load(weights_only=True)`), keyed by a hash of the rows, labels, sizes, the architecture
version and the training length. Training draws from its own seeded generators, never the run's.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import Tensor
from torch.nn import functional as F

from textgan.core.checkpoint import cached_training
from textgan.errors import UserError
from textgan.progress import progress_bar
from textgan.storage import cache_root
from textgan.text.discriminators import SeqGANDiscriminator

VERSION = 1  # bump when the architecture or the training changes: old cache files are then ignored
EMB_DIM, WIDTHS, MAPS, DROPOUT = 128, (3, 4, 5), 100, 0.5


def build_classifier(vocab_size: int, seq_len: int, n_classes: int) -> SeqGANDiscriminator:
    """Kim's CNN-rand over `vocab_size` tokens: logits (B, n_classes) for id rows (B, seq_len)."""
    widths = tuple(w for w in WIDTHS if w <= seq_len) or (seq_len,)
    return SeqGANDiscriminator(vocab_size, seq_len, EMB_DIM, widths, (MAPS,) * len(widths), dropout=DROPOUT,
                               highway=False, outputs=n_classes)


@torch.no_grad()
def predict(model: SeqGANDiscriminator, rows: Tensor, batch: int = 1000) -> Tensor:
    """The class the model gives each id row (n,), in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = torch.cat([model(rows[i : i + batch].to(device)).argmax(-1).cpu()
                     for i in range(0, len(rows), batch)])
    model.train(was_training)
    return out


def accuracy(model: SeqGANDiscriminator, rows: Tensor, labels: Tensor) -> float:
    """Fraction of `rows` the model labels with `labels`."""
    return float((predict(model, rows) == labels.cpu()).float().mean()) if len(rows) else 0.0


def train_classifier(rows: Tensor, labels: Tensor, vocab_size: int, n_classes: int, steps: int,
                     batch_size: int = 64, lr: float = 1e-3, seed: int = 0) -> SeqGANDiscriminator:
    """Adam on cross-entropy for `steps` batches drawn with replacement; the model in eval mode. The
    run's random stream is left as it was (dropout draws from a forked, seeded one)."""
    if len(rows) == 0:
        raise UserError("the text classifier has no labelled sentences to train on")
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = build_classifier(vocab_size, rows.shape[1], n_classes)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        model.train()
        with progress_bar(steps, "training the text classifier", unit="step") as bar:
            for _ in range(steps):
                pick = torch.randint(len(rows), (batch_size,), generator=gen)
                loss = F.cross_entropy(model(rows[pick]), labels[pick])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                bar.update()
    return model.eval()


def cache_key(rows: Tensor, labels: Tensor, held: Tensor, held_labels: Tensor, vocab_size: int,
              n_classes: int, steps: int) -> str:
    """What a cached classifier must match: its data, sizes, architecture version and training length."""
    h = hashlib.sha256(f"v{VERSION}|steps{steps}|vocab{vocab_size}|classes{n_classes}".encode())
    for t in (rows, labels, held, held_labels):
        h.update(str(tuple(t.shape)).encode())
        h.update(t.cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:24]


def load_or_train(rows: Tensor, labels: Tensor, held: Tensor, held_labels: Tensor, vocab_size: int,
                  n_classes: int, steps: int,
                  cache_dir: Path | None = None) -> tuple[SeqGANDiscriminator, float]:
    """The classifier trained on (`rows`, `labels`) and its accuracy on (`held`, `held_labels`): from
    the cache when there, else trained now (then cached)."""
    cache_dir = Path(cache_dir) if cache_dir else cache_root()
    key = cache_key(rows, labels, held, held_labels, vocab_size, n_classes, steps)
    path = cache_dir / f"text_classifier_{key}.pt"
    with torch.random.fork_rng():  # the same random stream whether cached or trained
        model = build_classifier(vocab_size, rows.shape[1], n_classes)

    def train() -> tuple[SeqGANDiscriminator, float]:
        trained = train_classifier(rows, labels, vocab_size, n_classes, steps)
        return trained, accuracy(trained, held, held_labels)

    return cached_training(path, key, "text classifier", model, train)
