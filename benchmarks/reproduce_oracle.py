"""Reproduce the synthetic-oracle table: NLL_oracle of MLE, SeqGAN, RelGAN, RankGAN and LeakGAN (ours versus
published, length 20) and of ScratchGAN (no pre-training; its paper has no oracle figure) with the
bundled recipes, plus the oracle's own samples (published 5.750).

    python benchmarks/reproduce_oracle.py --quick    # CPU, minutes: schedules cut short, smaller RelGAN
    python benchmarks/reproduce_oracle.py --device cuda   # full recipes (hours on a GPU)
Each run is an ordinary training run (its folder under --out); the table gives NLL_oracle at the end
of MLE pre-training and at the end of the run, the wall time, and appends to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
from results import record, reproduction_parser

from textgan.core.logging import read_metrics
from textgan.core.seeding import seed_everything
from textgan.core.trainer import Trainer
from textgan.data import data_file
from textgan.games import build_game, load_recipe
from textgan.storage import RECIPES_DIR
from textgan.text import Oracle, make_oracle_dataset

RECIPES = RECIPES_DIR
PUBLISHED = {"oracle": 5.750, "mle_oracle": 9.038, "seqgan_oracle": 8.736, "relgan_oracle": 6.680,
             "rankgan_oracle": 8.247, "leakgan_oracle": 7.038}
SHORT = ["train.pretrain_steps=400", "data.n_eval=2000", "train.progress=false",
         "train.checkpoint_every=100000"]
QUICK = {  # CPU minutes instead of GPU hours: same games, schedules cut short, RelGAN narrower
    "mle_oracle": [*SHORT, "eval.every=200"],
    "seqgan_oracle": [*SHORT, "train.pretrain_d_steps=50", "train.steps=8",
                      "train.n_critic=3", "eval.every=100000"],
    "relgan_oracle": [*SHORT, "train.steps=40", "train.n_critic=3", "model.head_size=64",
                      "model.d_filter_sizes=[2,3,4,5]", "model.d_num_filters=[64,64,64,64]",
                      "eval.every=100000"],
    "rankgan_oracle": [*SHORT, "train.pretrain_d_steps=50", "train.steps=8",
                       "train.n_critic=3", "eval.every=100000"],
    # from scratch: no MLE phase; D's LSTM 64 wide instead of 512, and G's learning rate 3e-3 instead
    # of 9.59e-5, so that 100 steps show the start of its descent
    "scratchgan_oracle": ["data.n_eval=2000", "train.progress=false", "train.checkpoint_every=100000",
                          "train.steps=100", "model.d_lstm_dim=64", "optim_g.lr=3e-3", "eval.every=100000"],
    # LeakGAN's leaked feature (the highway over 1,720 maps) and its worker's (vocab x 16) output make a
    # token ~20x SeqGAN's: D a quarter as wide, rollouts as published
    "leakgan_oracle": [*SHORT, "train.pretrain_d_steps=50", "train.steps=8", "train.n_critic=3",
                       "train.mle_every=4", "train.mle_steps=2", "eval.every=100000",
                       "model.d_filter_sizes=[1,2,3,4,5,6,7,8,9,10,15,20]",
                       "model.d_num_filters=[25,50,50,50,50,25,25,25,25,25,40,40]"],
}


def oracle_self_nll() -> float:
    """NLL_oracle of the oracle's own 10,000 training samples (the table's "real data" row)."""
    oracle = Oracle.from_npz(data_file("seqgan-oracle", "oracle"))
    return float(oracle.nll(make_oracle_dataset(oracle)).mean())


def run(name: str, overrides: list[str],
        out: Path, device: torch.device) -> tuple[float | None, float, float]:
    """Train one recipe; NLL_oracle after pre-training (None if it has no adversarial phase), at the
    end, and the wall time in seconds."""
    recipe = load_recipe(RECIPES / f"{name}.yaml", overrides)
    recipe.name = name
    seed_everything(recipe.seed)
    started = time.perf_counter()
    trainer = Trainer(recipe, build_game(recipe, device), out / name, device)
    summary = trainer.fit()
    wall = time.perf_counter() - started
    before = None
    start = recipe.train.adversarial_start
    if recipe.train.steps and start:
        before = next(r["nll_oracle"] for r in read_metrics(out / name / "metrics.jsonl")
                      if r["step"] == start)
    return before, summary["nll_oracle"], wall


def main() -> None:
    args = reproduction_parser(__doc__, QUICK).parse_args()
    device = torch.device(args.device)
    rows = [f"| oracle's own samples | - | {oracle_self_nll():.3f} | {PUBLISHED['oracle']:.3f} | - |"]
    print(rows[0], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        for name in args.only or QUICK:
            overrides = QUICK[name] if args.quick else ["train.progress=false"]
            before, after, wall = run(name, overrides, out, device)
            shown = "-" if before is None else f"{before:.3f}"
            published = f"{PUBLISHED[name]:.3f}" if name in PUBLISHED else "-"
            rows.append(f"| {name} | {shown} | {after:.3f} | {published} | {wall:.0f} |")
            print(rows[-1], flush=True)
    mode = "quick (CPU schedules: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in QUICK.items()) + ")" \
        if args.quick else "full recipes"
    body = (f"{mode}; device {device}, torch threads {torch.get_num_threads()}. NLL_oracle = the "
            "oracle's mean per-token NLL of model samples (length 20).\n\n"
            "| model | ours after MLE | ours final | published | wall s |\n|---|---|---|---|---|\n"
            + "\n".join(rows))
    print(body)
    if not args.no_record:
        record("reproduce_oracle: NLL_oracle, MLE / SeqGAN / RelGAN / RankGAN / LeakGAN / ScratchGAN"
               + (" (quick)" if args.quick else ""), body)


if __name__ == "__main__":
    main()
