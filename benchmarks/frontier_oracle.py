"""The quality–diversity frontier: MLE against SeqGAN and the CPU-sized RelGAN, each GAN from the same
MLE start, every model swept over the sampling temperature ("Language GANs Falling Short", Caccia et
al. 2020: a GAN's gain is real only where its whole curve lies below MLE's).

    python benchmarks/frontier_oracle.py                  # SeqGAN oracle, full schedules (hours on 2 cores)
    python benchmarks/frontier_oracle.py --quick          # the same pipeline cut short (minutes)
    python benchmarks/frontier_oracle.py --corpus coco    # COCO captions (bundled), full schedules
    python benchmarks/frontier_oracle.py --only leakgan   # one GAN (with MLE and the stage it starts from)

Stages, each an ordinary run folder under --out, so an interrupted benchmark continues where it
stopped when started again with the same --out (a finished stage is kept, an unfinished one resumed):
1. `mle`: `mle_oracle` (`mle_coco`);
2. `seqgan`, `relgan_small`: `seqgan_oracle` and `relgan_oracle_small` (`seqgan_coco`,
   `relgan_coco_small`) with `--init-from mle`, side by side (each stage's output in OUT/NAME.log);
   on the oracle also `relgan1_small`: `relgan_oracle_small` with beta held at 1 (RelGAN(1)),
   `rankgan`: `rankgan_oracle`, `scratchgan`: `scratchgan_oracle` CPU-sized, from a random
   generator (ScratchGAN trains without MLE), and `leakgan`: `leakgan_oracle` CPU-sized, from
   `leakgan_mle`, its own MLE run (its generator is not the LSTM) with the D its manager reads;
3. `textgan sweep` of each final generator at TEMPERATURES: on the oracle NLL_oracle of 10,000
   samples against NLL_gen; on COCO BLEU-5 against Self-BLEU-5 (2,000 samples, all 10,000 test
   references) and Caccia et al.'s LM score against reverse LM score (`--metrics lm_score,reverse_lm_score`).
Writes a curve PNG per run (its evaluation metrics against the step), `frontier.png` (one curve per
model, the published figures marked), a table appended to benchmarks/RESULTS.md, and as its last
line one JSON object (for the oracle, the contract in DESIGN.md).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from results import record

from textgan.core.logging import read_metrics
from textgan.core.plots import adversarial_start
from textgan.data import require
from textgan.sweep import plot_sweep


@dataclass(frozen=True)
class Setup:
    """One benchmark: its recipes, the quick cuts, the sweep, which metrics make the curves, and the
    published figures (each a horizontal line on the frontier: the papers give no diversity figure)."""

    recipes: dict[str, str]  # stage -> recipe; "mle" first, every other stage starts from it
    quick: dict[str, list[str]]
    temperatures: tuple[float, ...]
    n: int
    quick_n: int
    frontiers: tuple[tuple[str, str], ...]  # (x, y) pairs, lower-left better
    published: dict[str, float]
    published_source: dict[str, str]  # the legend of each published line
    published_metric: str
    extra_metrics: str = ""
    dataset: str = ""
    trajectory: tuple[str, ...] = field(default=("nll_oracle", "nll_gen"))
    variants: dict[str, list[str]] = field(default_factory=dict)  # a stage's settings beside its recipe's
    diversity: tuple[str, ...] = ()  # sweep columns shown beside the frontier's
    compare_at: tuple[str, ...] = ("nll_gen",)  # y against MLE's curve at equal values of these
    from_scratch: tuple[str, ...] = ()  # stages trained from a random generator, not from `mle`
    starts_from: dict[str, str] = field(default_factory=dict)  # a stage that starts from another than `mle`

    @property
    def gans(self) -> list[str]:
        return [name for name in self.recipes if name != "mle"]

    def start_of(self, name: str) -> str | None:
        """The stage whose generator `name` starts from (None: a random generator)."""
        if name == "mle" or name in self.from_scratch:
            return None
        return self.starts_from.get(name, "mle")

    def with_starts(self, names: list[str]) -> list[str]:
        """`names` and every stage they start from, each after its start."""
        ordered: list[str] = []
        for name in names:
            chain = [name]
            while (start := self.start_of(chain[-1])) is not None:
                chain.append(start)
            ordered += [n for n in reversed(chain) if n not in ordered]
        return ordered


LEAKGAN_CPU = ["model.d_filter_sizes=[1,2,3,4,5,6,7,8,9,10,15,20]",
               "model.d_num_filters=[25,50,50,50,50,25,25,25,25,25,40,40]", "data.n_eval=5000"]
SETUPS = {
    "oracle": Setup(
        recipes={"mle": "mle_oracle", "seqgan": "seqgan_oracle", "relgan_small": "relgan_oracle_small",
                 "relgan1_small": "relgan_oracle_small", "rankgan": "rankgan_oracle",
                 "scratchgan": "scratchgan_oracle", "leakgan_mle": "leakgan_oracle",
                 "leakgan": "leakgan_oracle"},
        # RelGAN(1): beta held at 1 (no annealing: the low end of beta_max), its other settings the recipe's
        variants={"relgan1_small": ["model.beta_max=1"],
                  # CPU-sized: D 64 wide (not 512), G's rate 3e-3 (not 9.59e-5), 800 steps (not 200,000)
                  "scratchgan": ["model.d_lstm_dim=64", "optim_g.lr=3e-3", "train.steps=800",
                                 "data.n_eval=5000", "eval.every=200"],
                  # LeakGAN's generator is not the LSTM: its own MLE start (with the D it reads), both
                  # CPU-sized: D a quarter as wide, 3,000 MLE steps at 5e-3 (not 12,480 at 1.5e-3), 200
                  # D steps (not 4,680), 200 iterations (not 800)
                  "leakgan_mle": [*LEAKGAN_CPU, "train.steps=0", "train.pretrain_steps=3000",
                                  "optim_pretrain.lr=5e-3", "train.pretrain_d_steps=200", "eval.every=500",
                                  "train.checkpoint_every=500"],
                  "leakgan": [*LEAKGAN_CPU, "train.pretrain_d_steps=0", "train.steps=200",
                              "eval.every_adversarial=25", "train.checkpoint_every=25"]},
        from_scratch=("scratchgan", "leakgan_mle"),
        starts_from={"leakgan": "leakgan_mle"},
        quick={
            "mle": ["train.pretrain_steps=400", "eval.every=200", "data.n_eval=2000"],
            "seqgan": ["train.pretrain_d_steps=50", "train.steps=8", "train.n_critic=3",
                       "eval.every_adversarial=4", "data.n_eval=2000"],
            "relgan_small": ["train.steps=40", "eval.every=20", "data.n_eval=2000"],
            "relgan1_small": ["train.steps=40", "eval.every=20", "data.n_eval=2000"],
            "rankgan": ["train.pretrain_d_steps=50", "train.steps=4", "train.n_critic=3",
                        "eval.every_adversarial=2", "data.n_eval=2000"],
            "scratchgan": ["train.steps=40", "eval.every=20", "data.n_eval=2000"],
            "leakgan_mle": ["train.pretrain_steps=100", "train.pretrain_d_steps=10", "eval.every=50",
                            "data.n_eval=500"],
            "leakgan": ["train.steps=4", "eval.every_adversarial=2", "data.n_eval=500"],
        },
        temperatures=(0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5), n=10_000, quick_n=2000,
        frontiers=(("nll_gen", "nll_oracle"),),
        published={"mle": 9.038, "seqgan": 8.736, "relgan_small": 6.680, "rankgan": 8.247, "leakgan": 7.038},
        published_source={"mle": "MLE published", "seqgan": "SeqGAN published",
                          "relgan_small": "RelGAN(100) published, paper-sized G",
                          "rankgan": "RankGAN published", "leakgan": "LeakGAN published, sampled at T = 2/3"},
        published_metric="nll_oracle", dataset="seqgan-oracle", diversity=("distinct_2", "distinct_4"),
        compare_at=("nll_gen", "distinct_2")),
    "coco": Setup(
        recipes={"mle": "mle_coco", "seqgan": "seqgan_coco", "relgan_small": "relgan_coco_small"},
        quick={
            "mle": ["train.pretrain_steps=600", "eval.every=300", "data.n_eval=200", "data.bleu_samples=50"],
            "seqgan": ["train.pretrain_d_steps=50", "train.steps=4", "train.n_critic=3",
                       "eval.every_adversarial=4", "data.n_eval=200", "data.bleu_samples=50"],
            "relgan_small": ["train.steps=40", "eval.every=20", "data.n_eval=200", "data.bleu_samples=50"],
        },
        temperatures=(0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1.5), n=2000, quick_n=300,
        frontiers=(("self_bleu_5", "bleu_5"), ("reverse_lm_score", "lm_score")),
        published={"mle": 0.189, "seqgan": 0.180, "relgan_small": 0.331},
        published_source={"mle": "MLE published (RelGAN paper)", "seqgan": "SeqGAN published (RelGAN paper)",
                          "relgan_small": "RelGAN(100) published, paper-sized G"},
        published_metric="bleu_5", extra_metrics="lm_score,reverse_lm_score", compare_at=("self_bleu_5",),
        trajectory=("nll_gen", "bleu_5", "self_bleu_5")),
}
QUICK_TEMPERATURES = (0.5, 1.0, 1.5)


def stage_done(run: Path) -> bool:
    return (run / "summary.json").is_file()


def start_training(setup: Setup, name: str, out: Path,
                   quick: bool, env: dict[str, str]) -> subprocess.Popen | None:
    """Start training one stage (or resuming it) with its output in OUT/NAME.log; None when it finished
    earlier."""
    run = out / name
    if stage_done(run):
        print(f"{name}: done earlier ({run})", file=sys.stderr)
        return None
    cmd = [sys.executable, "-m", "textgan", "train", setup.recipes[name], "--out", str(run),
           "--set", "train.progress=false"]
    settings = setup.variants.get(name, []) + (setup.quick[name] if quick else [])
    cmd += [arg for o in settings for arg in ("--set", o)]
    if (run / "checkpoints" / "last.pt").is_file():
        cmd.append("--resume")
    elif setup.start_of(name):
        cmd += ["--init-from", str(out / setup.start_of(name))]
    log = out / f"{name}.log"
    print(f"{name}: {' '.join(cmd[2:])}  (log: {log})", file=sys.stderr)
    with log.open("a") as sink:
        return subprocess.Popen(cmd, env=env, stdout=sink, stderr=subprocess.STDOUT)


def finish_training(name: str, proc: subprocess.Popen | None, out: Path) -> None:
    """Wait for a stage; a failure ends the benchmark with the stage's last log lines."""
    if proc is None or proc.wait() == 0:
        return
    tail = (out / f"{name}.log").read_text(errors="replace").splitlines()[-5:]
    print("\n".join(tail), file=sys.stderr)
    raise SystemExit(f"error: stage {name} failed (exit {proc.returncode}); rerun to resume it")


def train_stages(setup: Setup, names: list[str], out: Path, quick: bool, threads: int) -> None:
    """MLE first (the GANs start from it), then in waves the stages whose start has finished, side by
    side, the threads split between them (on a small machine, two 1-thread runs finish sooner than
    two 2-thread runs one after the other)."""
    def env(n: int) -> dict[str, str]:
        return dict(os.environ, OMP_NUM_THREADS=str(max(1, n)))

    finish_training("mle", start_training(setup, "mle", out, quick, env(threads)), out)
    pending = [n for n in names if n != "mle"]
    while pending:
        wave = [n for n in pending if setup.start_of(n) not in pending]
        running = {n: start_training(setup, n, out, quick, env(threads // len(wave))) for n in wave}
        for name, proc in running.items():
            finish_training(name, proc, out)
        pending = [n for n in pending if n not in wave]


def sweep(setup: Setup, name: str, out: Path, quick: bool, env: dict[str, str]) -> list[dict[str, float]]:
    """The run's quality–diversity rows (kept in RUN/sweep/sweep.json once computed)."""
    rows_file = out / name / "sweep" / "sweep.json"
    temperatures, n = (QUICK_TEMPERATURES, setup.quick_n) if quick else (setup.temperatures, setup.n)
    if rows_file.is_file():
        rows = json.loads(rows_file.read_text())
        swept = [r["temperature"] for r in rows] == list(temperatures)
        if swept and all(k in rows[0] for k in setup.diversity):  # else swept before they were measured
            return rows
    cmd = [sys.executable, "-m", "textgan", "sweep", str(out / name), "--n", str(n),
           "--temperatures", ",".join(f"{t:g}" for t in temperatures)]
    cmd += ["--metrics", setup.extra_metrics] if setup.extra_metrics else []
    done = subprocess.run(cmd, env=env, check=False, stdout=subprocess.DEVNULL)
    if done.returncode:
        raise SystemExit(f"error: sweep of {name} failed (exit {done.returncode})")
    return json.loads(rows_file.read_text())


def trajectory(setup: Setup, run: Path) -> list[dict[str, float]]:
    """The evaluations of a run: the step and the setup's trajectory metrics."""
    keys = ("step", *setup.trajectory)
    return [{k: r[k] for k in keys} for r in read_metrics(run / "metrics.jsonl") if all(k in r for k in keys)]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(setup: Setup, name: str, points: list[dict[str, float]], xlabel: str, path: Path) -> None:
    """The run's evaluation metrics against the step (NLLs in nats per token on one axis; BLEU and
    Self-BLEU, 0..1, on a second panel)."""
    from textgan.storage import atomic_save_figure

    plt = _pyplot()
    groups = [[k for k in setup.trajectory if k.startswith("nll")],
              [k for k in setup.trajectory if "bleu" in k]]
    groups = [g for g in groups if g]
    fig, axes = plt.subplots(1, len(groups), figsize=(6.4 * len(groups), 4), squeeze=False,
                             layout="constrained")
    steps = [p["step"] for p in points]
    for ax, keys in zip(axes[0], groups):
        for key in keys:
            ax.plot(steps, [p[key] for p in points], marker="o", markersize=3, label=key)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("nats per token (lower is better)" if keys[0].startswith("nll") else "score (0..1)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    # a stage's settings can be long: wrapped to the figure's width, not widening it
    title = ", ".join([f"{name}: {setup.recipes[name]}", *setup.variants.get(name, [])])
    fig.suptitle(textwrap.fill(title, width=int(14 * 6.4 * len(groups))), fontsize=9)
    atomic_save_figure(fig, path)
    plt.close(fig)


def mle_at(mle_rows: list[dict[str, float]], x: str, y: str, at: float) -> float | None:
    """MLE's `y` at `x` = `at` on its temperature curve (linear between its two nearest points; None
    outside the range it covers): where a GAN's point lies against MLE's curve at equal diversity."""
    points = sorted((r[x], r[y]) for r in mle_rows)
    xs = [p[0] for p in points]
    if not xs[0] <= at <= xs[-1]:
        return None
    return float(np.interp(at, xs, [p[1] for p in points]))


def sweep_table(setup: Setup, frontiers: dict[str, list[dict[str, float]]]) -> list[str]:
    """The frontier rows as a Markdown table, each GAN point's `y` against the curve of the MLE
    generator it started from (`mle`'s for a stage from a random generator) at the same value of each
    diversity measure in `compare_at` (NLL_gen alone does not show a gain bought by collapse: its
    n-gram diversity may still fall short of MLE's)."""
    columns = [k for pair in setup.frontiers for k in pair] + list(setup.diversity)
    y = setup.frontiers[0][1]
    lines = ["| model | T | " + " | ".join(columns) + " | "
             + " | ".join(f"{y} - MLE's at equal {x}" for x in setup.compare_at) + " |",
             "|---|---|" + "---|" * (len(columns) + len(setup.compare_at))]
    for name, rows in frontiers.items():
        reference = frontiers[setup.start_of(name) or "mle"]
        for r in rows:
            mle = [mle_at(reference, x, y, r[x]) if name != "mle" else None for x in setup.compare_at]
            lines.append(f"| {name} | {r['temperature']:g} | " + " | ".join(f"{r[k]:.3f}" for k in columns)
                         + " | " + " | ".join("-" if m is None else f"{r[y] - m:+.3f}" for m in mle) + " |")
    return lines


def _shown(point: dict[str, float], setup: Setup) -> str:
    return " / ".join(f"{point[k]:.3f}" for k in setup.trajectory)


def _settings(config: dict, variant: list[str]) -> str:
    """The stage's schedule and learning rates, read from its config.yaml, and its settings beside
    its recipe's."""
    return ", ".join([_schedule(config), *variant])


def _schedule(config: dict) -> str:
    t = config["train"]
    if not t["steps"]:
        return f"{t['pretrain_steps']} MLE steps, lr {config['optim_pretrain']['lr']:g}"
    d_first = f"{t['pretrain_d_steps']} D steps, then " if t["pretrain_d_steps"] else ""
    return (f"{d_first}{t['steps']} x (1 G + {t['n_critic']} D), G lr {config['optim_g']['lr']:g}, "
            f"D lr {config['optim_d']['lr']:g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", choices=tuple(SETUPS), default="oracle",
                        help="which benchmark (default oracle)")
    parser.add_argument("--quick", action="store_true", help="cut every schedule short (minutes)")
    parser.add_argument("--out", type=Path,
                        help="folder of the stages' runs (default runs/frontier-CORPUS[-quick])")
    parser.add_argument("--only", nargs="+", choices=sorted({g for s in SETUPS.values() for g in s.gans}),
                        help="GANs to run and compare with MLE (default: all)")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads: MLE and the sweeps use them all, the GANs share them "
                             "(default 2)")
    parser.add_argument("--json", action="store_true", help="(the last line is always the JSON summary)")
    args = parser.parse_args()
    setup = SETUPS[args.corpus]
    if setup.dataset:
        require(setup.dataset)  # one error line naming `textgan data get` when absent
    out = args.out or Path("runs") / f"frontier-{args.corpus}{'-quick' if args.quick else ''}"
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    unknown = set(args.only or ()) - set(setup.gans)
    if unknown:
        parser.error(f"--corpus {args.corpus} has no stage {', '.join(sorted(unknown))}")
    names = setup.with_starts(["mle", *(args.only or setup.gans)])

    started = time.perf_counter()
    train_stages(setup, names, out, args.quick, args.threads)
    y = setup.frontiers[0][1]
    models, frontiers, lines = {}, {}, []
    for name in names:
        run = out / name
        points = trajectory(setup, run)
        config = yaml.safe_load((run / "config.yaml").read_text())
        mle_only = not config["train"]["steps"]
        # counted from the adversarial start (D pre-training leaves the generator as it was)
        if not mle_only:
            start = adversarial_start(config)
            points = [dict(p, step=p["step"] - start) for p in points if p["step"] >= start]
        xlabel = ("MLE step" if mle_only else "adversarial step (from a random generator)"
                  if name in setup.from_scratch else "adversarial step (0: the MLE generator it starts from)")
        plot_curves(setup, name, points, xlabel, out / f"curves_{name}.png")
        frontiers[name] = sweep(setup, name, out, args.quick, env)
        summary = json.loads((run / "summary.json").read_text())
        first = points[0] if setup.start_of(name) else None
        lower_better = y.startswith("nll")
        best = (min if lower_better else max)(points, key=lambda p: p[y])
        models[name] = {
            "start_nll_oracle" if y == "nll_oracle" else f"start_{y}": first[y] if first else None,
            "final": {k: summary[k] for k in setup.trajectory},
            "best": best,
            "frontier": [[r["temperature"], *(r[k] for pair in setup.frontiers for k in pair)]
                         for r in frontiers[name]],
            "wall_s": summary["wall_time_s"],
        }
        settings = _settings(config, setup.variants.get(name, []))
        lines.append(f"| {name} | {settings} | {_shown(first, setup) if first else '-'} | "
                     f"{_shown(summary, setup)} | {best[y]:.3f} at "
                     f"{'MLE' if mle_only else 'adversarial'} step {best['step']:.0f} "
                     f"| {setup.published.get(name, '-')} | {summary['wall_time_s'] / 60:.1f} |")
    plot_sweep(frontiers, out / "frontier.png",
               marks={name: (setup.published_metric, setup.published[name],
                             f"{setup.published_source[name]}: {setup.published[name]:g}")
                      for name in frontiers if name in setup.published})
    wall = time.perf_counter() - started
    sweep_rows = sweep_table(setup, frontiers)
    n = setup.quick_n if args.quick else setup.n
    body = (f"{args.corpus}, {'quick (schedules cut short)' if args.quick else 'full schedules'}; "
            f"runs in {out}; {args.threads} torch threads (the GANs side by side, "
            f"{max(1, args.threads // (len(names) - 1))} each); this invocation {wall / 60:.1f} min (stages "
            "finished earlier are not re-run; each stage's own training time is in the last column).\n\n"
            f"| model | schedule | adversarial start {' / '.join(setup.trajectory)} | end | best {y} | "
            f"published {y} | train min |\n|---|---|---|---|---|---|---|\n" + "\n".join(lines) +
            f"\n\nFrontier over sampling temperature ({n} samples per point; MLE's: the curve of the MLE "
            "generator the GAN started from, `mle`'s for one from a random generator):\n\n"
            + "\n".join(sweep_rows) +
            f"\n\nPNGs: {out}/frontier.png, {out}/curves_*.png")
    print(body)
    record(f"frontier_oracle --corpus {args.corpus}{' --quick' if args.quick else ''}"
           + (f" --only {' '.join(args.only)}" if args.only else ""), body)
    print(json.dumps({"wall_s": round(wall, 1), "models": models}))


if __name__ == "__main__":
    main()
