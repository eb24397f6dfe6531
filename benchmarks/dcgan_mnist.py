"""DCGAN on MNIST on the CPU: domain FID and domain IS against step and wall time.

Trains the `dcgan_mnist` recipe (the 10,000 MNIST test digits, data set mnist-test, 28 px, one
torch thread) through the real CLI, reads the run's metrics.jsonl, prints a table and appends it to
benchmarks/RESULTS.md. Domain FID/IS use textgan's small CNN digit classifier (trained first, and
cached, on 80 % of the labelled digits; its accuracy on the other 20 % is reported) on 2,000
generated and 2,000 real digits. The training time column is the sum of the logged step times
(log_every 1): evaluations are not included; the total wall time of the run is given below the table.

    python benchmarks/dcgan_mnist.py [--quick] [--steps N] [--every N] [--out RUN_DIR]

--quick: 1,500 steps, evaluated every 250 (about 10-15 minutes on one contended CPU thread);
default: 5,000 steps, evaluated every 500.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import record

ROOT = Path(__file__).resolve().parents[1]


def classifier_accuracy() -> tuple[float, float]:
    """Train (or load from the cache) the recipe's domain classifier; its accuracy and seconds taken."""
    import torch

    torch.set_num_threads(1)
    sys.path.insert(0, str(ROOT))
    from textgan.games import load_recipe
    from textgan.image.classifier import load_or_train
    from textgan.image.game import load_data
    from textgan.storage import RECIPES_DIR

    data_cfg = load_recipe(RECIPES_DIR / "dcgan_mnist.yaml").data
    started = time.perf_counter()
    _, acc = load_or_train(load_data(data_cfg), data_cfg.classifier_steps)
    return acc, time.perf_counter() - started


def train(steps: int, every: int, out: Path) -> dict[str, float]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "textgan", "train", "dcgan_mnist", "--out", str(out),
           "--set", f"train.steps={steps}", "--set", f"eval.every={every}", "--set", "train.log_every=1",
           "--set", f"train.checkpoint_every={steps}", "--set", "train.progress=false"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"dcgan_mnist failed:\n{done.stderr}")
    return json.loads((out / "summary.json").read_text())


def table(run: Path) -> list[str]:
    """One row per evaluation: step, domain FID, domain IS, cumulative training seconds."""
    rows = ["| step | domain FID | domain IS | training time (s) |", "|---|---|---|---|"]
    elapsed = 0.0
    for line in (run / "metrics.jsonl").read_text().splitlines():
        r = json.loads(line)
        elapsed += r["step_time_s"]
        if "domain_fid" in r:
            rows.append(f"| {r['step']} | {r['domain_fid']:.2f} | {r['domain_is_mean']:.2f} ± "
                        f"{r['domain_is_std']:.2f} | {elapsed:.0f} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,500 steps, evaluated every 250")
    parser.add_argument("--steps", type=int, help="training steps (default 5,000; 1,500 with --quick)")
    parser.add_argument("--every", type=int, help="evaluate every N steps (default 500; 250 with --quick)")
    parser.add_argument("--out", type=Path, help="keep the run folder here (default: a temporary folder)")
    args = parser.parse_args()
    steps = args.steps or (1500 if args.quick else 5000)
    every = args.every or (250 if args.quick else 500)

    acc, acc_s = classifier_accuracy()
    with tempfile.TemporaryDirectory() as tmp:
        run = args.out or Path(tmp) / "run"
        summary = train(steps, every, run)
        rows = table(run)
    body = "\n".join([
        f"`dcgan_mnist` (DCGAN, batch 64, Adam 2e-4 β1 0.5, non-saturating loss) for {steps} steps on the",
        "10,000 MNIST test digits; one torch thread; domain FID/IS on 2,000 generated vs 2,000 real digits",
        (f"with textgan's digit classifier (held-out accuracy {100 * acc:.2f} %, {acc_s:.0f} s to "
         "train or load)."),
        "",
        *rows,
        "",
        f"Total wall time of the run, evaluations included: {summary['wall_time_s']:.0f} s.",
    ])
    print(body)
    record("dcgan_mnist" + (" --quick" if args.quick else ""), body)


if __name__ == "__main__":
    main()
