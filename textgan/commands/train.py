"""`textgan train RECIPE [--set KEY=VALUE ...] [--out DIR] [--resume | --init-from RUN]`: load the recipe,
open the run folder, build the game and the trainer, train, and report."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from textgan.commands.recipes import find_recipe
from textgan.errors import UserError

if TYPE_CHECKING:
    from textgan.config import Recipe


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `train` sub-command to the `textgan` parser."""
    p = sub.add_parser("train", help="train a recipe", description="Train a recipe; writes a run folder.")
    p.add_argument("recipe", help="recipe YAML file or bundled recipe name (see `textgan recipes`)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a recipe value, e.g. train.steps=500")
    p.add_argument("--out", help="run folder (default runs/RECIPE_NAME)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--init-from", metavar="RUN_DIR_OR_CHECKPOINT",
                   help="start from another run's generator (and EMA; LeakGAN's with its D), skipping MLE "
                        "pre-training")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--seed", type=int, help="random seed (overrides the recipe's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from textgan.games import load_recipe

    overrides = list(args.set or [])
    if args.seed is not None:
        overrides.append(f"seed={args.seed}")
    if args.init_from:
        if args.resume:
            raise UserError("--init-from starts a new run and --resume continues one: give one of them")
        overrides += [f"train.init_from={Path(args.init_from).resolve()}", "train.pretrain_steps=0"]
    recipe = load_recipe(find_recipe(args.recipe), overrides)
    out = Path(args.out) if args.out else Path("runs") / (recipe.name or Path(args.recipe).stem)
    started_from = _started_from(out) if args.resume and not recipe.train.init_from else ""
    if started_from:  # a run started with --init-from continues as it started: no MLE phase
        overrides += [f"train.init_from={started_from}", "train.pretrain_steps=0"]
        recipe = load_recipe(find_recipe(args.recipe), overrides)
    if not recipe.name:
        recipe.name = Path(args.recipe).stem
    main_process = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 writes and prints
    from textgan.run_folder import last_checkpoint, open_run, remove_if_unwritten

    if not main_process:  # rank 0 holds the folder's lock; no checkpoint is ever cleared, so this agrees
        return _train(args, recipe, out, args.resume and last_checkpoint(out).is_file(), main_process)
    new_folder = not out.exists()
    lock, resuming = open_run(out, args.resume)
    try:
        return _train(args, recipe, out, resuming, main_process)
    except UserError:
        if new_folder:
            remove_if_unwritten(out, lock)  # a recipe refused before its first file leaves no folder behind
        raise
    finally:
        lock.release()


def _train(args: argparse.Namespace, recipe: Recipe, out: Path, resuming: bool, main_process: bool) -> int:
    """Build the game and the trainer, start, continue or initialise the run, train, and report."""
    import torch

    from textgan.config import save_recipe
    from textgan.core import distributed as dist
    from textgan.core.seeding import seed_everything
    from textgan.core.trainer import RunInterrupted, Trainer
    from textgan.device import keep_freed_cpu_memory, pick_device
    from textgan.doctor.live import attach_doctor
    from textgan.games import build_game

    keep_freed_cpu_memory()
    device = dist.setup(pick_device(args.device))
    try:
        seed_everything(recipe.seed)
        game = build_game(recipe, device)
        trainer = Trainer(recipe, game, out, device)
        attach_doctor(trainer)  # before resuming: its state is in the checkpoint
        if resuming:
            trainer.resume()
        elif recipe.train.init_from:
            source_step = trainer.init_generator_from(recipe.train.init_from)
        if main_process:
            if resuming:
                print(f"resuming {out} from step {trainer.step}", file=sys.stderr)
            elif recipe.train.init_from:
                print(f"generator from {recipe.train.init_from} (its step {source_step}); "
                      "no MLE pre-training", file=sys.stderr)
            save_recipe(recipe, out / "config.yaml")
            ranks = f" x {dist.world_size()} processes" if dist.world_size() > 1 else ""
            print(f"training {recipe.name} ({recipe.game}) on {device}{ranks}, torch {torch.__version__}, "
                  f"run folder {out}")
        try:
            summary = trainer.fit()
        except RunInterrupted as stopped:
            if main_process:
                print(f"stopped by {stopped.signal_name} at step {stopped.step}; checkpoint saved: "
                      f"continue with `textgan train {args.recipe} --out {out} --resume`", file=sys.stderr)
            return 130
    finally:
        dist.teardown()
    if not main_process:
        return 0
    from textgan.core.plots import plot_training_curves
    from textgan.games import metric_panels

    plot_training_curves(out, metric_panels(recipe.game))
    shown = {k: v for k, v in summary.items() if isinstance(v, (int, float))}
    print("results: " + ", ".join(f"{k}={v:.4g}" for k, v in sorted(shown.items())))
    if (recipe.train.adversarial_start or recipe.train.init_from) and recipe.train.steps:
        print(_before_after(out, recipe.train.adversarial_start, shown, recipe.eval.metric))
    print(f"written: {out}/summary.json, metrics.jsonl, curves.png, config.yaml, checkpoints/, samples/")
    return 0


def _started_from(out: Path) -> str:
    """The `train.init_from` a run folder's config.yaml records ("" if none, or no readable config)."""
    import yaml

    try:
        saved = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return ""
    train = saved.get("train") if isinstance(saved, dict) else None
    return str(train.get("init_from") or "") if isinstance(train, dict) else ""


def _before_after(out: Path, start: int, final: dict[str, float], metric: str) -> str:
    """The watched metric (else every evaluated one) at the end of pre-training and at the end of the
    run, read from metrics.jsonl."""
    from textgan.core.logging import read_metrics

    before = next((r for r in read_metrics(out / "metrics.jsonl") if r.get("step") == start), {})
    names = [k for k in ([metric] if metric else sorted(final)) if isinstance(before.get(k), (int, float))]
    if not names:
        return f"no evaluation logged at the end of pre-training (step {start})"
    return f"before adversarial training (step {start}) -> after (step {final['steps']:.0f}): " + ", ".join(
        f"{k} {before[k]:.4g} -> {final[k]:.4g}" for k in names)
