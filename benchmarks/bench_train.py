"""Seconds per training step (and tokens/s) of the text games on the SeqGAN oracle, with the anchors'
hyper-parameters: RelGAN (relational memory G, multi-representation CNN D, Gumbel-softmax, batch 64)
and SeqGAN (LSTM 32/32, CNN D, 16 Monte-Carlo rollouts). Each step is the trainer's own (forward,
backward, clipping, optimiser), timed after a warm-up.

    python benchmarks/bench_train.py --quick --json        # CPU; last line: one JSON object
    python benchmarks/bench_train.py --device cuda --bf16  # on a GPU
Tokens/s counts the batch's generated or trained tokens (batch x 20), not the rollouts' tokens.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from results import record

from textgan.config import load_recipe
from textgan.core.trainer import Trainer
from textgan.games import build_game

RECIPES = Path(__file__).resolve().parent.parent / "recipes"
SMALL_DATA = ["data.n_train=640", "data.n_heldout=256"]  # the data size does not change a step's cost


def make_trainer(recipe_name: str, device: torch.device, bf16: bool, out: Path) -> Trainer:
    recipe = load_recipe(RECIPES / f"{recipe_name}.yaml", [*SMALL_DATA, f"train.amp={str(bf16).lower()}"])
    torch.manual_seed(0)
    return Trainer(recipe, build_game(recipe, device), out, device)


def time_step(step: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median seconds of `step` over `repeats` calls after one warm-up call."""
    step()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 timed steps each (default 10)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast on CUDA (train.amp)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object last")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    device = torch.device(args.device)
    repeats = 3 if args.quick else 10
    figures: dict[str, float] = {}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("relgan", "seqgan"):
            trainer = make_trainer(f"{name}_oracle", device, args.bf16, Path(tmp))
            game = trainer.game
            game.on_step(1, trainer.cfg.steps)
            tokens = trainer.cfg.batch_size * game.seq_len
            for kind, step in (("mle", trainer._mle_step), ("g", trainer._g_step), ("d", trainer._d_step)):
                seconds = time_step(step, repeats, device)
                figures[f"{name}_{kind}_step_s"] = seconds
                rows.append(f"| {name} | {kind} | {seconds:.4f} | {1 / seconds:.2f} | {tokens / seconds:,.0f} |")
                print(rows[-1], flush=True)
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    header = (f"device {device}{' bf16' if args.bf16 else ''}, torch threads {torch.get_num_threads()}, "
              f"{repeats} timed steps (median) after a warm-up; batch 64, length 20, vocabulary 5000; "
              f"SeqGAN G step = 16 Monte-Carlo rollouts + REINFORCE; peak RSS {figures['peak_rss_mb']:.0f} MB\n\n"
              "| game | step | s/step | steps/s | tokens/s |\n|---|---|---|---|---|\n" + "\n".join(rows))
    print(header)
    if not args.no_record:
        record("bench_train: text GAN step times on the oracle" + (" (quick)" if args.quick else ""), header)
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
