"""`textgan sample RUN_DIR [--n N] [--temperature T] [--category NAME] [--out FILE]`: parse, call
`textgan.text.sampling`, write. Kept apart from the library so that `textgan --help` never imports torch."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from textgan.errors import UserError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `sample` sub-command to the `textgan` parser."""
    p = sub.add_parser("sample", help="write sentences sampled from a trained text run",
                       description="Sample sentences from a text run's generator (EMA weights when kept).")
    p.add_argument("run_dir", metavar="RUN_DIR", help="run folder written by `textgan train`")
    p.add_argument("--n", type=int, default=100, help="number of sentences (default 100)")
    p.add_argument("--temperature", type=float, default=1.0, help="softmax temperature (default 1.0)")
    p.add_argument("--checkpoint", choices=("last", "best"), default="last",
                   help="which checkpoint (default last)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--category", metavar="NAME",
                   help="a category-conditional run's category to sample (default: every category in turn, "
                        "each line prefixed by its category and a tab)")
    p.add_argument("--out", metavar="FILE", help="write the sentences here (atomically) instead of stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.out:
        from textgan.run_folder import refuse_run_file

        refuse_run_file(args.out)
    from textgan.text.sampling import sample_run

    lines = sample_run(Path(args.run_dir), args.n, args.temperature, args.checkpoint, args.seed,
                       args.category)
    text = "".join(line + "\n" for line in lines)
    if args.out:
        from textgan.storage import atomic_write_text

        try:
            atomic_write_text(Path(args.out), text)
        except OSError as exc:
            raise UserError(f"cannot write {args.out}: {exc.strerror}") from None
        print(f"wrote {len(lines)} sentences to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
