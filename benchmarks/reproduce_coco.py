"""Reproduce the COCO captions table: BLEU-2..5 of MLE, SeqGAN, RelGAN, RankGAN, LeakGAN and ScratchGAN
against the 10,000-line COCO test set (RelGAN paper's numbers; ScratchGAN's paper has no COCO figure),
with Self-BLEU-2..5, NLL_gen and, with `--fed` (needs the `fed` extra; embedding the test set takes
minutes on CPU), FED, all from the bundled recipes.

    python benchmarks/reproduce_coco.py --quick          # CPU: schedules cut short (see QUICK)
    python benchmarks/reproduce_coco.py --device cuda    # the published schedules (hours on a GPU)
Each run is an ordinary training run; after it, `--n` samples (default 10,000 full / 1,000 quick)
are drawn from its generator (EMA when on) and scored by `textgan eval`'s code under the full
Texygen protocol (every sample against every test sentence; lower-cased NLTK word tokens).
The table goes to stdout and is appended to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from results import record

from textgan.config import save_recipe
from textgan.core.seeding import seed_everything
from textgan.core.trainer import Trainer
from textgan.data import data_file
from textgan.evaluate import evaluate_text, select_metrics
from textgan.games import build_game, load_recipe
from textgan.storage import RECIPES_DIR
from textgan.text.sampling import sample_run
from textgan.text.tokenize import WordTokenizer

RECIPES = RECIPES_DIR
PUBLISHED = {  # BLEU-2..5, RelGAN paper (Nie et al. 2019), Table 2
    "mle_coco": (0.731, 0.497, 0.305, 0.189),
    "seqgan_coco": (0.745, 0.498, 0.294, 0.180),
    "relgan_coco": (0.849, 0.687, 0.502, 0.331),
    "rankgan_coco": (0.743, 0.467, 0.264, 0.156),
    "leakgan_coco": (0.746, 0.528, 0.355, 0.230),  # Texygen's, as the RelGAN paper quotes them
}
# no BLEU while training (the table scores the final samples), so no best checkpoint chosen by it either
SHORT = ["train.pretrain_steps=600", "data.n_eval=200", "data.bleu_samples=0", "eval.metric=",
         "train.progress=false", "train.checkpoint_every=100000", "eval.every=100000"]
QUICK = {  # CPU tens of minutes instead of GPU hours: same games, schedules cut short, RelGAN narrower
    "mle_coco": SHORT,
    "seqgan_coco": [*SHORT, "train.pretrain_d_steps=50", "train.steps=8", "train.n_critic=3"],
    "relgan_coco": [*SHORT, "train.steps=40", "train.n_critic=3", "model.head_size=64",
                    "model.d_filter_sizes=[2,3,4,5]", "model.d_num_filters=[64,64,64,64]"],
    "rankgan_coco": [*SHORT, "train.pretrain_d_steps=50", "train.steps=8", "train.n_critic=3"],
    # from scratch (no MLE phase): D's LSTM 64 wide instead of 512, G's learning rate 3e-3, not 9.59e-5
    "scratchgan_coco": [*(o for o in SHORT if not o.startswith("train.pretrain_steps=")), "train.steps=100",
                        "model.d_lstm_dim=64", "optim_g.lr=3e-3"],
    "leakgan_coco": [*SHORT, "train.pretrain_d_steps=50", "train.steps=8", "train.n_critic=3",
                     "train.mle_every=4", "train.mle_steps=20"],
}


def train(name: str, overrides: list[str], out: Path, device: torch.device) -> tuple[dict[str, float], float]:
    """One recipe through the trainer; its summary and wall seconds."""
    recipe = load_recipe(RECIPES / f"{name}.yaml", overrides)
    recipe.name = name
    seed_everything(recipe.seed)
    started = time.perf_counter()
    summary = Trainer(recipe, build_game(recipe, device), out / name, device).fit()
    save_recipe(recipe, out / name / "config.yaml")  # what `textgan sample` reads the run back from
    return summary, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="CPU-sized schedules (see QUICK)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--n", type=int, help="samples scored per model (default 10000, quick 1000)")
    parser.add_argument("--out", help="folder for the run folders (default: a temporary folder)")
    parser.add_argument("--fed", action="store_true", help="also FED (sentence encoder from the fed extra)")
    parser.add_argument("--only", nargs="*", choices=tuple(QUICK), help="run only these recipes")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    device = torch.device(args.device)
    n = args.n or (1000 if args.quick else 10_000)
    references = data_file("coco", "test").read_text(encoding="utf-8").splitlines()
    tokenizer = WordTokenizer(lowercase=True)
    metrics = select_metrics("bleu,self_bleu" + (",fed" if args.fed else ""),
                             have_train=False, fed_available=True)
    rows, figures = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        for name in args.only or QUICK:
            summary, wall = train(name, QUICK[name] if args.quick else ["train.progress=false"], out, device)
            samples = sample_run(out / name, n)
            scores = evaluate_text(samples, references, tokenizer.tokenize, metrics=metrics)
            scores["nll_gen"] = summary.get("nll_gen", float("nan"))
            figures[name] = {**scores, "wall_s": wall}
            bleu = " ".join(f"{scores[f'bleu_{k}']:.3f} ({f'{p:.3f}' if p else '-'})"
                            for k, p in zip(range(2, 6), PUBLISHED.get(name, (None,) * 4)))
            self_bleu = " ".join(f"{scores[f'self_bleu_{k}']:.3f}" for k in range(2, 6))
            fed = f"{scores['fed']:.4f}" if "fed" in scores else "-"
            rows.append(f"| {name} | {bleu} | {self_bleu} | {scores['nll_gen']:.3f} | {fed} | {wall:.0f} |")
            print(rows[-1], flush=True)
    mode = ("quick (CPU schedules: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in QUICK.items()) + ")"
            if args.quick else "full recipes")
    body = (f"{mode}; device {device}, torch threads {torch.get_num_threads()}; {n} samples per "
            f"model against the {len(references)} COCO test lines (Texygen protocol, lower-cased NLTK "
            "word tokens). NLL_gen: per-token, padding excluded, on the test set. Published: "
            "RelGAN paper.\n\n"
            "| model | BLEU-2..5 ours (published) | Self-BLEU-2..5 | NLL_gen | FED | wall s |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(rows))
    print(body)
    print(json.dumps(figures))
    if not args.no_record:
        record("reproduce_coco: BLEU / Self-BLEU / NLL_gen / FED, "
               "MLE / SeqGAN / RelGAN / RankGAN / LeakGAN / ScratchGAN" + (" (quick)" if args.quick else ""),
               body)


if __name__ == "__main__":
    main()
