"""`textgan sample RUN_DIR`: sentences from a trained text run's generator (the EMA copy when the run
kept one), detokenised with the vocabulary and tokeniser saved in the run folder. `load_run_generator`
is shared with `textgan sweep`. Registered in `textgan.cli`."""

from __future__ import annotations

import argparse
import json
import sys
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

    def sample(self, n: int, temperature: float = 1.0) -> torch.Tensor:
        """n id rows (n, seq_len) on the CPU, drawn in chunks from the global torch generator."""
        import torch

        return torch.cat([self.generator.sample(min(CHUNK, n - lo), self.seq_len, temperature)
                          for lo in range(0, n, CHUNK)]).cpu()

    def decode(self, rows: torch.Tensor) -> list[str]:
        """Each id row as one line (detokenised text; space-separated ids for oracle runs)."""
        from textgan.text.data import decode_rows

        return decode_rows(rows, self.vocab, self.tokenizer)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `sample` sub-command to the `textgan` parser."""
    p = sub.add_parser("sample", help="write sentences sampled from a trained text run",
                       description="Sample sentences from a text run's generator (EMA weights when kept).")
    p.add_argument("run_dir", metavar="RUN_DIR", help="run folder written by `textgan train`")
    p.add_argument("--n", type=int, default=100, help="number of sentences (default 100)")
    p.add_argument("--temperature", type=float, default=1.0, help="softmax temperature (default 1.0)")
    p.add_argument("--checkpoint", choices=("last", "best"), default="last", help="which checkpoint (default last)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", metavar="FILE", help="write the sentences here (atomically) instead of stdout")
    p.set_defaults(func=run)


def load_run_generator(run_dir: Path, checkpoint: str = "last", device: str = "cpu") -> RunGenerator:
    """The generator of a text run folder from its `checkpoint` (`last` or `best`; EMA weights when
    the run kept them) on `device`, in eval mode; UserError for anything but a text run's folder."""
    from textgan.config import load_recipe
    from textgan.core.checkpoint import load_checkpoint
    from textgan.text.data import load_run_vocabulary
    from textgan.text.game import build_generator, pretrained_token_ids
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
    generator = build_generator(recipe.model, signature["vocab_size"], bos_id, signature["seq_len"],
                                pretrained_token_ids(vocab, tokenizer))
    generator.load_state_dict(state["ema"] or state["generator"])
    generator.to(device).eval()
    return RunGenerator(recipe, generator, signature, vocab, tokenizer)


def sample_run(run_dir: Path, n: int, temperature: float = 1.0, checkpoint: str = "last", seed: int = 0) -> list[str]:
    """`n` detokenised sentences (space-separated ids for oracle runs) from the run's generator."""
    import torch

    if n < 1:
        raise UserError(f"--n must be at least 1, got {n}")
    if not temperature > 0:
        raise UserError(f"--temperature must be > 0, got {temperature}")
    run = load_run_generator(run_dir, checkpoint)
    torch.manual_seed(seed)
    return run.decode(run.sample(n, temperature))


def run(args: argparse.Namespace) -> int:
    if args.out:
        from textgan.run_folder import refuse_run_file

        refuse_run_file(args.out)
    lines = sample_run(Path(args.run_dir), args.n, args.temperature, args.checkpoint, args.seed)
    text = "".join(line + "\n" for line in lines)
    if args.out:
        from textgan.core.checkpoint import atomic_write_text

        try:
            atomic_write_text(Path(args.out), text)
        except OSError as exc:
            raise UserError(f"cannot write {args.out}: {exc.strerror}") from None
        print(f"wrote {len(lines)} sentences to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
