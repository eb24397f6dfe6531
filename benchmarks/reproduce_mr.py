"""Category-conditional generation on MR (sentences of at most 15 words): SentiGAN and CatGAN from
the bundled recipes, each beside its own MLE start (the evaluation that ends its MLE phase: one
LSTM per category for SentiGAN, the conditional generator for CatGAN).

    python benchmarks/reproduce_mr.py --quick          # CPU: schedules cut short (see QUICK)
    python benchmarks/reproduce_mr.py --device cuda    # the published schedules
    python benchmarks/reproduce_mr.py --out runs/mr --only catgan_mr --set train.steps=200   # in between
Per category: BLEU-2 against that category's test sentences, Self-BLEU-2, NLL_gen, and
class_accuracy (the share of its samples the text classifier labels with it), read against the
classifier's own accuracy on real sentences it never saw. Needs `textgan data get movie-review`.
The table goes to stdout and is appended to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from results import record, reproduction_parser

from textgan.core.logging import read_metrics
from textgan.games import load_recipe
from textgan.storage import RECIPES_DIR

SHORT = ["train.pretrain_steps=600", "data.n_eval=400", "eval.every=600", "eval.every_adversarial=0",
         "eval.metric=", "train.checkpoint_every=100000"]
QUICK = {  # CPU minutes instead of GPU hours: the same games, schedules cut short
    "sentigan_mr": [*SHORT, "train.pretrain_d_steps=50", "train.steps=10", "train.n_critic=10",
                    "model.rollouts=4"],
    "catgan_mr": [*SHORT, "train.steps=10", "model.evo_eval_rows=64", "model.temperature_horizon=2000",
                  "model.d_filter_sizes=[2,3,4,5]", "model.d_num_filters=[64,64,64,64]"],
}
CATEGORIES = ("pos", "neg")


def train(name: str, overrides: list[str], out: Path, device: str) -> tuple[list[dict], float, int]:
    """One recipe through `textgan train` in OUT/NAME (resumed from its checkpoint when one is there,
    kept when it finished earlier): its evaluation records, training seconds and MLE's last step."""
    run = out / name
    if not (run / "summary.json").is_file():
        cmd = [sys.executable, "-m", "textgan", "train", name, "--out", str(run), "--device", device,
               *(arg for o in ["train.progress=false", *overrides] for arg in ("--set", o))]
        if (run / "checkpoints" / "last.pt").is_file():
            cmd.append("--resume")
        print(" ".join(cmd[2:]), file=sys.stderr, flush=True)
        if subprocess.run(cmd, check=False).returncode:
            raise SystemExit(f"error: {name} failed; rerun with the same --out to resume it")
    records = [r for r in read_metrics(run / "metrics.jsonl") if "class_accuracy" in r]
    wall = json.loads((run / "summary.json").read_text())["wall_time_s"]
    return records, wall, load_recipe(RECIPES_DIR / f"{name}.yaml", overrides).train.pretrain_steps


def pick(r: dict) -> dict:
    """The figures the table shows, per category and on average."""
    return {k: v for k, v in r.items() if k.startswith(("bleu_2", "self_bleu_2", "nll_gen", "class"))}


def row(name: str, phase: str, r: dict) -> str:
    """Per category: the generator's figures, then the classifier's accuracy on that category's real
    sentences (the bar its class accuracy is read against)."""
    cells = [f"{r[f'{m}_{c}']:.3f}" for m in ("bleu_2", "self_bleu_2", "nll_gen", "class_accuracy",
                                               "classifier_accuracy") for c in CATEGORIES]
    return f"| {name} | {phase} (step {r['step']}) | {' | '.join(cells)} | {r['classifier_accuracy']:.3f} |"


def main() -> None:
    parser = reproduction_parser(__doc__, QUICK)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe value in every run (after --quick's): schedules in between")
    args = parser.parse_args()
    rows, figures = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        for name in args.only or QUICK:
            settings = (QUICK[name] if args.quick else []) + args.set
            records, wall, mle_steps = train(name, settings, out, args.device)
            start = next(r for r in records if r["step"] == mle_steps)
            figures[name] = {"mle": pick(start), "gan": pick(records[-1]), "wall_s": wall}
            rows += [row(name, "MLE start", start), row(name, f"GAN ({wall:.0f} s of training)", records[-1])]
            print("\n".join(rows[-2:]), flush=True)
    mode = ("quick (CPU schedules: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in QUICK.items()) + ")"
            if args.quick else "full recipes") + (f", with {' '.join(args.set)}" if args.set else "")
    columns = ("BLEU-2", "Self-BLEU-2", "NLL_gen", "class acc.", "classifier acc.")
    heads = " | ".join(f"{m} {c}" for m in columns for c in CATEGORIES)
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    body = (f"{mode}; device {args.device}, OMP_NUM_THREADS {threads}; each recipe a `textgan train` run "
            "under --out, resumed or kept when run again. Per category: BLEU-2 "
            "against its test sentences, Self-BLEU-2, NLL_gen (padding excluded), class accuracy of its "
            "samples; beside them the classifier's accuracy on the real sentences of that category it never "
            "saw, and on all of them.\n\n"
            f"| recipe | generator | {heads} | classifier acc. |\n|---|---|" + "---|" * 11 + "\n"
            + "\n".join(rows))
    print(body)
    print(json.dumps(figures, default=float))
    if not args.no_record:
        record("reproduce_mr: SentiGAN / CatGAN on MR15, per category, beside their MLE start"
               + (" (quick)" if args.quick else ""), body)


if __name__ == "__main__":
    main()
