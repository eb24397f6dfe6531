"""The GAN doctor's test bench: does `textgan doctor` name the right pitfall first?

Trains every recipe in recipes/broken/ (each named after the pitfall it provokes) and the stabilised
toy_grid / toy_ring recipes and two short text runs (demo_oracle, relgan_coco_small cut to 600 MLE
and 200 adversarial steps; all must come out healthy) through the real CLI with `doctor: off`,
runs the doctor on each run folder, and prints the confusion table (provoked pitfall × pitfall named
first). Then, on the same seeds, trains the NaN, collapse and over-fitting recipes again with
`doctor.mode=auto` and compares their end metrics with the `off` runs. Appends both tables to
benchmarks/RESULTS.md; the last line printed is one JSON object.

CPU scaling: the stabilised recipes run `train.steps=3000` (of 16000 / 12000; cosine schedules follow
the shorter horizon) with evaluation every 250 steps, since the full runs take most of an hour on a
shared CPU; the broken recipes run as written (they are CPU-small by design).

    python benchmarks/doctor_bench.py [--jobs 2] [--seed 0] [--no-record] [--runs DIR] [--only RECIPE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from results import record

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from textgan.core.checkpoint import load_checkpoint, non_finite_tensors
from textgan.core.logging import read_metrics
from textgan.doctor.detect import PITFALLS, diagnose_run
from textgan.storage import RECIPES_DIR

HEALTHY_SCALE = ["train.steps=3000", "eval.every=250", "train.log_every=10", "train.checkpoint_every=1000"]
HEALTHY = {"toy_grid": HEALTHY_SCALE, "toy_ring": HEALTHY_SCALE,
           # short text runs, evaluated often from their near-random start (the old collapse rule's
           # false alarm)
           "demo_oracle": ["eval.every=50"],
           "relgan_coco_small": ["train.pretrain_steps=600", "train.steps=200", "eval.every=100",
                                 "data.n_eval=300", "data.bleu_samples=100", "train.checkpoint_every=1000"]}
# Recipes compared with doctor auto vs off, and the end metrics that show the difference.
AUTO = {
    "non_finite_toy_grid": ("steps", "modes_covered", "high_quality_fraction"),
    "mode_collapse_toy_grid": ("modes_covered", "high_quality_fraction", "mode_kl"),
    "mode_collapse_text_oracle": ("nll_oracle", "distinct_4"),
    "d_overfitting_mnist": ("domain_fid", "domain_is_mean"),
}


def expected_pitfall(name: str) -> str:
    """The pitfall a broken recipe provokes: the pitfall ID its file name starts with."""
    return next(p for p in sorted(PITFALLS, key=len, reverse=True) if name.startswith(p))


def train(recipe: Path, out: Path, seed: int, overrides: list[str]) -> dict:
    """One `textgan train` run; returns exit code, seconds and the summary (empty when it failed)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "textgan", "train", str(recipe), "--out", str(out), "--seed", str(seed),
           "--set", "train.progress=false"]
    for item in overrides:
        cmd += ["--set", item]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    if done.returncode not in (0, 2):
        raise SystemExit(f"{recipe.name} crashed:\n{done.stderr[-3000:]}")
    error = done.stderr.strip().splitlines()[-1] if done.returncode else ""
    return {"rc": done.returncode, "seconds": time.perf_counter() - started,
            "summary": summary, "error": error}


def checkpoints_finite(run: Path) -> bool:
    return all(not non_finite_tensors(load_checkpoint(p)) for p in (run / "checkpoints").glob("*.pt"))


def diagnose(run: Path) -> list[str]:
    try:
        return [f.pitfall for f in diagnose_run(run).findings]
    except Exception as exc:  # noqa: BLE001 - a run that logged nothing is reported, not fatal
        return [f"error: {exc}"]


def confusion_table(rows: list[dict]) -> str:
    labels = [*PITFALLS, "healthy"]
    used = [c for c in labels if any(r["first"] == c for r in rows)]
    head = "| provoked \\ named first | " + " | ".join(used) + " |\n|---|" + "---|" * len(used) + "\n"
    body = ""
    for label in labels:
        mine = [r for r in rows if r["expected"] == label]
        if mine:
            body += (f"| {label} | " + " | ".join(str(sum(r['first'] == c for r in mine)) for c in used)
                     + " |\n")
    return head + body


def run_table(rows: list[dict]) -> str:
    out = ("| recipe | provoked | named first | all findings | exit | steps | seconds |\n"
           "|---|---|---|---|---|---|---|\n")
    for r in rows:
        out += (f"| {r['recipe']} | {r['expected']} | {r['first']} | {', '.join(r['all']) or '-'} | "
                f"{r['rc']} | {r['steps']} | {r['seconds']:.0f} |\n")
    return out


def auto_table(pairs: list[dict]) -> str:
    out = ("| recipe | metric | doctor off | doctor auto | auto's actions | non-finite checkpoints "
           "(off / auto) |\n"
           "|---|---|---|---|---|---|\n")
    for p in pairs:
        for metric in AUTO[p["recipe"]]:
            off, auto = p["off"]["summary"].get(metric), p["auto"]["summary"].get(metric)
            fmt = lambda v: "-" if v is None else f"{v:.4g}"
            off_text = fmt(off) if p["off"]["rc"] == 0 else f"{fmt(off)} (diverged: {p['off_step']} steps)"
            out += (f"| {p['recipe']} | {metric} | {off_text} | {fmt(auto)} | "
                    f"{', '.join(p['actions']) or '-'} | {'no' if p['off_finite'] else 'YES'} / "
                    f"{'no' if p['auto_finite'] else 'YES'} |\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    parser.add_argument("--runs", metavar="DIR",
                        help="keep the run folders here (default: a temporary folder)")
    parser.add_argument("--only", nargs="+", metavar="RECIPE", help="run only these recipes (by name)")
    args = parser.parse_args()

    broken = sorted((RECIPES_DIR / "broken").glob("*.yaml"))
    jobs = [(p, p.stem, expected_pitfall(p.stem), [], "off") for p in broken]
    jobs += [(RECIPES_DIR / f"{name}.yaml", name, "healthy", scale, "off") for name, scale in HEALTHY.items()]
    jobs += [(p, p.stem, expected_pitfall(p.stem), ["doctor.mode=auto"], "auto")
             for p in broken if p.stem in AUTO]
    if args.only:
        names = {job[1] for job in jobs}
        unknown = sorted(set(args.only) - names)
        if unknown:
            parser.error(f"unknown recipe(s) {', '.join(unknown)}; choose from {', '.join(sorted(names))}")
        jobs = [job for job in jobs if job[1] in args.only]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="doctor_bench_") as scratch:
        tmp = args.runs or scratch
        def one(job: tuple) -> dict:
            recipe, name, expected, overrides, mode = job
            out = Path(tmp) / f"{name}_{mode}"
            result = train(recipe, out, args.seed, overrides)
            found = diagnose(out)
            steps = max((r.get("step", 0) for r in read_metrics(out / "metrics.jsonl")
                         if "doctor_action" not in r),
                        default=0)
            actions = [f"{r['doctor_action']} {', '.join(r.get('changes') or {})}".strip()
                       for r in read_metrics(out / "metrics.jsonl") if "doctor_action" in r]
            print(f"{name:32s} {mode:4s} rc {result['rc']} {result['seconds']:6.0f}s named {found[:3]}",
                  flush=True)
            return {"recipe": name, "mode": mode, "expected": expected,
                    "first": found[0] if found else "healthy", "all": found, "steps": steps,
                    "actions": actions, "finite": checkpoints_finite(out), **result}

        with ThreadPoolExecutor(args.jobs) as pool:
            results = list(pool.map(one, jobs))
    off = [r for r in results if r["mode"] == "off"]
    pairs = []
    for r in (r for r in results if r["mode"] == "auto"):
        o = next(x for x in off if x["recipe"] == r["recipe"])
        pairs.append({"recipe": r["recipe"], "off": o, "auto": r, "actions": r["actions"],
                      "off_step": o["steps"], "off_finite": o["finite"], "auto_finite": r["finite"]})
    correct = sum(r["first"] == r["expected"] for r in off)
    missing = ([] if args.only or any(r["recipe"] == "d_overfitting_mnist" for r in off)
               else ["d_overfitting_mnist"])
    body = (f"Seed {args.seed}; broken recipes as written, stabilised toy recipes scaled to "
            f"{' '.join(HEALTHY_SCALE)} for CPU. {correct}/{len(off)} runs named their provoked "
            f"pitfall first (healthy = nothing fired). Total {time.perf_counter() - started:.0f} s with "
            f"{args.jobs} parallel runs.{' Not run: ' + ', '.join(missing) + '.' if missing else ''}"
            f"{' Only these recipes (--only): ' + ', '.join(args.only) + '.' if args.only else ''}\n\n"
            f"{confusion_table(off)}\n{run_table(off)}\n"
            f"Doctor auto vs off, same seed:\n\n{auto_table(pairs)}")
    print(body)
    if not args.no_record:
        record("GAN doctor: confusion table and auto vs off (benchmarks/doctor_bench.py)", body)
    print(json.dumps({"correct": correct, "runs": len(off),
                      "seconds": round(time.perf_counter() - started, 1),
                      "named_first": {r["recipe"]: r["first"] for r in off},
                      "auto_vs_off": {p["recipe"]: {m: [p["off"]["summary"].get(m),
                                                        p["auto"]["summary"].get(m)]
                                                     for m in AUTO[p["recipe"]]} for p in pairs}}))


if __name__ == "__main__":
    main()
