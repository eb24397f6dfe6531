"""`textgan sweep RUN_DIR [RUN_DIR ...] --temperatures LIST`: load each text run's generator and its
data, run `textgan.sweep.sweep` over the temperatures, print the table (or JSON rows) and write the
table, the rows and the curve into the run (RUN_DIR/sweep/, or --out for one run); several runs are
also drawn together, one curve each, into --out (the GAN-against-MLE comparison). Registered in
`textgan.cli` (via `textgan.commands`)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from textgan.errors import UserError

TABLE, ROWS, PLOT = "sweep.txt", "sweep.json", "sweep.png"
COMPARE_DIR = "sweep-compare"
EXTRA_METRICS = ("lm_score", "reverse_lm_score")


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `sweep` sub-command to the `textgan` parser."""
    p = sub.add_parser(
        "sweep", help="quality-diversity curve of a text run over sampling temperatures (table + PNG)",
        description="Sample a text run's generator at each temperature and score quality against diversity "
                    "(\"Language GANs Falling Short\"): NLL_oracle vs NLL_gen on the oracle; BLEU "
                    "vs Self-BLEU and distinct-n on real text, every sample against every test sentence "
                    "(word-tokenised, lower-cased). NLL_gen is the tempered model's per-token NLL on "
                    "the test set, padding excluded.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                   help="text run folder(s) written by `textgan train`; several: their curves drawn together")
    p.add_argument("--temperatures", required=True, metavar="LIST",
                   help="comma list of temperatures > 0, e.g. 0.5,0.8,1,1.2")
    p.add_argument("--n", type=int, metavar="N",
                   help="samples per temperature (default: the run's data.n_eval)")
    p.add_argument("--checkpoint", choices=("last", "best"), default="last",
                   help="which checkpoint (default last)")
    p.add_argument("--seed", type=int, default=0,
                   help="sampling seed, the same at every temperature (default 0)")
    p.add_argument("--out", metavar="DIR",
                   help=f"one run: folder for its {TABLE}, {ROWS} and {PLOT} (default RUN_DIR/sweep); "
                        f"several runs: folder for the comparison's {ROWS} and {PLOT} (default "
                        f"./{COMPARE_DIR}), each run's own files going to RUN_DIR/sweep")
    p.add_argument("--metrics", metavar="LIST", default="",
                   help="extra metrics, comma list of lm_score (samples under an LSTM LM trained on the "
                        "training set) and reverse_lm_score (test set under an LSTM LM trained on "
                        "the samples); Caccia et al.'s scores, settings fixed in textgan.metrics.lm_score")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="device for the generator")
    p.add_argument("--json", action="store_true", help="print the rows as one JSON list on stdout")
    p.set_defaults(func=run)


def parse_temperatures(spec: str) -> list[float]:
    """The temperatures of a comma list; each must be a number > 0."""
    temperatures = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        try:
            t = float(item)
        except ValueError:
            raise UserError(f"--temperatures: {item!r} is not a number") from None
        if not t > 0:
            raise UserError(f"--temperatures must all be > 0, got {item}")
        temperatures.append(t)
    if not temperatures:
        raise UserError("--temperatures is empty")
    return temperatures


def parse_metrics(spec: str) -> list[str]:
    """The extra metrics of a comma list (each one of EXTRA_METRICS)."""
    names = [m.strip() for m in spec.split(",") if m.strip()]
    for name in names:
        if name not in EXTRA_METRICS:
            raise UserError(f"--metrics: unknown metric {name!r}; choose from {', '.join(EXTRA_METRICS)}")
    return names


def sweep_run(run_dir: Path, temperatures: list[float], n: int | None = None, checkpoint: str = "last",
              seed: int = 0, device: str = "cpu", metrics: list[str] | None = None) -> list[dict[str, float]]:
    """The sweep rows of a text run: its generator against its own data (reloaded from the recipe and
    checked against the checkpoint's signature, so the test set is the one it was trained beside)."""
    from textgan.sweep import sweep
    from textgan.text.data import load_text_data
    from textgan.text.sampling import load_run_generator
    from textgan.text.tokenize import WordTokenizer

    if n is not None and n < 2:
        raise UserError(f"--n must be at least 2 (Self-BLEU scores each sample against the others), got {n}")
    run = load_run_generator(run_dir, checkpoint, device)
    cfg = run.recipe.data
    data = load_text_data(cfg)
    signature = json.loads(json.dumps({"source": cfg.source, **data.signature()}, sort_keys=True))
    if signature != run.signature:
        raise UserError(f"the data of {run_dir} is not what it was trained on (its recipe's data now gives "
                        f"another vocabulary or oracle); cannot score its generator on it")
    test = data.test[: cfg.n_eval_test] if cfg.n_eval_test else data.test
    text: dict[str, Any] = {"row_tokens": data.tokens}
    if data.oracle is None:
        text = {"decode": run.decode, "references": data.reference_lines(),
                "tokenize": WordTokenizer(lowercase=True).tokenize}
    metrics = metrics or []
    lm = None
    if "lm_score" in metrics:
        from textgan.metrics.lm_score import train_language_model

        lm = train_language_model(data.train, data.vocab_size, data.pad_id,
                                  desc="LM score: an LM of the training text")
    return sweep(run.generator, temperatures, n or cfg.n_eval, run.seq_len, test, pad_id=data.pad_id,
                 eos_id=data.eos_id, oracle=data.oracle, seed=seed, lm=lm,
                 reverse_lm="reverse_lm_score" in metrics, **text)


def run(args: argparse.Namespace) -> int:
    from textgan.device import pick_device

    temperatures = parse_temperatures(args.temperatures)
    metrics = parse_metrics(args.metrics)
    from textgan.core.plots import run_labels
    from textgan.sweep import format_table

    run_dirs = [Path(d) for d in args.run_dirs]
    labels = run_labels(run_dirs)
    single = len(run_dirs) == 1
    curves = {}
    for label, run_dir in zip(labels, run_dirs):
        rows = sweep_run(run_dir, temperatures, args.n, args.checkpoint, args.seed,
                         str(pick_device(args.device)), metrics)
        write_sweep({label: rows}, Path(args.out) if single and args.out else run_dir / "sweep", table=True)
        curves[label] = rows
        if not args.json:
            print(f"{label}\n{format_table(rows)}\n" if not single else format_table(rows))
    if not single:
        write_sweep(curves, Path(args.out or COMPARE_DIR), table=False)
    if args.json:
        print(json.dumps(curves[labels[0]] if single else curves))
    return 0


def write_sweep(curves: dict[str, list[dict[str, float]]], out: Path, table: bool) -> None:
    """One run's table, rows and curve (`table`), or several runs' rows ({label: rows}) and their
    curves drawn together, into `out`."""
    from textgan.storage import atomic_write_text
    from textgan.sweep import format_table, plot_sweep

    names = [TABLE, ROWS, PLOT] if table else [ROWS, PLOT]
    rows = next(iter(curves.values())) if table else curves
    try:
        out.mkdir(parents=True, exist_ok=True)
        if table:
            atomic_write_text(out / TABLE, format_table(rows) + "\n")
        atomic_write_text(out / ROWS, json.dumps(rows, indent=1) + "\n")
        plot_sweep(curves, out / PLOT)
    except OSError as exc:
        raise UserError(f"cannot write to {out}: {exc.strerror}") from None
    print(f"written: {', '.join(str(out / n) for n in names)}", file=sys.stderr)
