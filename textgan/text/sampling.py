"""Sentences from a trained text run's generator (the EMA copy when the run kept one), detokenised
with the vocabulary and tokeniser saved in the run folder: the library behind `textgan sample`
(`textgan.commands.sample`); `load_run_generator` is shared with `textgan sweep`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textgan.errors import UserError

if TYPE_CHECKING:
    import torch

    from textgan.config import Recipe
    from textgan.text.generators import TextGenerator
    from textgan.text.tokenize import Tokenizer, Vocabulary

CHUNK = 1000  # sequences per sampling pass: bounds the (rows, vocab) logits


@dataclass
class RunGenerator:
    """A text run's generator (eval mode) with what it takes to decode its samples: the recipe, the
    game signature its checkpoint was saved under, and the vocabulary and tokeniser (None for the oracle)."""

    recipe: Recipe
    generator: TextGenerator
    signature: dict[str, Any]
    vocab: Vocabulary | None
    tokenizer: Tokenizer | None

    @property
    def seq_len(self) -> int:
        return int(self.signature["seq_len"])

    @property
    def categories(self) -> list[str]:
        """The categories of a category-conditional run (empty for any other)."""
        return list(self.signature.get("categories", ()))

    def category_index(self, name: str) -> int:
        """The index of category `name`, or a UserError listing the run's categories."""
        if not self.categories:
            raise UserError("--category needs a category-conditional run (model.family sentigan or catgan); "
                            "this run has no categories")
        if name not in self.categories:
            raise UserError(f"unknown category {name!r}: this run's categories are "
                            f"{', '.join(self.categories)}")
        return self.categories.index(name)

    def sample(self, n: int, temperature: float = 1.0, category: int | None = None) -> torch.Tensor:
        """n id rows (n, seq_len) on the CPU, drawn in chunks from the global torch generator; of one
        category (its index) when given, else (conditional runs) about n/k of each in turn."""
        import torch

        from textgan.progress import progress

        def draw(m: int) -> torch.Tensor:
            if category is None:
                return self.generator.sample(m, self.seq_len, temperature)
            return self.generator.category(category).sample(m, self.seq_len, temperature)

        if self.categories and category is None:  # whole chunks per category, as `sample_labels` says
            counts = self.generator.sample_labels(n).bincount(minlength=len(self.categories)).tolist()
            return torch.cat([self.sample(m, temperature, c) for c, m in enumerate(counts) if m])
        return torch.cat([draw(min(CHUNK, n - lo))
                          for lo in progress(range(0, n, CHUNK), f"sampling {n} sentences",
                                             unit="chunk")]).cpu()

    def decode(self, rows: torch.Tensor) -> list[str]:
        """Each id row as one line (detokenised text; space-separated ids for oracle runs)."""
        from textgan.text.data import decode_rows

        return decode_rows(rows, self.vocab, self.tokenizer)


def load_run_generator(run_dir: Path, checkpoint: str = "last", device: str = "cpu") -> RunGenerator:
    """The generator of a text run folder from its `checkpoint` (`last` or `best`; EMA weights when
    the run kept them) on `device`, in eval mode; UserError for anything but a text run's folder."""
    from textgan.core.checkpoint import load_checkpoint
    from textgan.games import load_recipe
    from textgan.text.data import load_run_vocabulary
    from textgan.text.game import game_class, pretrained_token_ids
    from textgan.text.oracle import Oracle
    from textgan.text.tokenize import BOS

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run folder not found: {run_dir}")
    if not (run_dir / "config.yaml").is_file():
        raise UserError(f"{run_dir} is not a run folder (no config.yaml)")
    recipe = load_recipe(run_dir / "config.yaml")
    if recipe.game != "text":
        raise UserError(f"{run_dir} is a {recipe.game!r} run; sampling sentences needs a text run")
    state = load_checkpoint(run_dir / "checkpoints" / f"{checkpoint}.pt")
    signature = json.loads(state["signature"])["game_signature"]
    if recipe.data.source == "oracle":
        vocab = tokenizer = None
        bos_id = Oracle.start_token
    else:
        vocab, tokenizer = load_run_vocabulary(run_dir)
        vocab.check_fingerprint(signature["vocabulary"], f"checkpoint in {run_dir}")
        bos_id = BOS
    generator = game_class(recipe.model).make_generator(
        recipe.model, signature["vocab_size"], bos_id, signature["seq_len"],
        pretrained_token_ids(vocab, tokenizer), tuple(signature.get("categories", ())))
    generator.load_state_dict(state["ema"] or state["generator"])
    generator.to(device).eval()
    if hasattr(generator, "load_discriminator"):  # LeakGAN's generator reads D's features as it samples
        generator.load_discriminator(state["discriminator"])
    return RunGenerator(recipe, generator, signature, vocab, tokenizer)


def sample_run(run_dir: Path, n: int, temperature: float = 1.0,
               checkpoint: str = "last", seed: int = 0, category: str | None = None) -> list[str]:
    """`n` detokenised sentences (space-separated ids for oracle runs) from the run's generator: of
    `category` when named; from a conditional run without one, `category<TAB>sentence` lines of
    every category in turn."""
    import torch

    if n < 1:
        raise UserError(f"--n must be at least 1, got {n}")
    if not temperature > 0:
        raise UserError(f"--temperature must be > 0, got {temperature}")
    run = load_run_generator(run_dir, checkpoint)
    index = None if category is None else run.category_index(category)
    torch.manual_seed(seed)
    lines = run.decode(run.sample(n, temperature, index))
    if run.categories and index is None:
        names = [run.categories[c] for c in run.generator.sample_labels(n).tolist()]
        lines = [f"{name}\t{line}" for name, line in zip(names, lines)]
    return lines
