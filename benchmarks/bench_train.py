"""Seconds per training step (and tokens/s) of the text games on the SeqGAN oracle, with the anchors'
hyper-parameters: RelGAN (relational memory G, multi-representation CNN D, Gumbel-softmax, batch 64)
and SeqGAN (LSTM 32/32, CNN D, 16 Monte-Carlo rollouts), with D's highway shared as the peer has it,
each against the naive reference of `naive_steps.py` timed in the same run and against
TextGAN-PyTorch's figures on this machine, and against its floor: the step's matmul work at the
machine's measured matmul rate.

    python benchmarks/bench_train.py --quick --json        # CPU; last line: one JSON object
    python benchmarks/bench_train.py --device cuda --bf16  # on a GPU
    python benchmarks/bench_train.py --quick --compile     # textgan's steps with train.compile

Each step is the trainer's own (forward, backward, clipping, optimiser) on the same models: textgan's
and the naive step alternate, one warm-up each, and the median of the repeats is reported, so load
swings on a shared machine hit both alike (the load average is recorded at the start and the end).
The process's CPU time per step is reported too: it depends much less on the load than wall time,
though not at all free of it (cache and core sharing: a RelGAN D step took 4.1 and 5.6 CPU s in two
runs at load 8-11).
Peak resident memory is measured per game in a fresh subprocess running textgan's steps only.
Tokens/s counts the batch's generated or trained tokens (batch x 20), not the rollouts' tokens. Last,
the DCGAN MNIST recipe's D and G steps give the image baselines' images/s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# OpenMP threads that yield instead of spinning at barriers, set before torch loads OpenMP: on this
# shared 2-core machine at load 8-10, spinning made 2-thread steps 5-10x slower than 1 thread (a RelGAN
# MLE step 16-41 s instead of 2.7-3.4 s, measured); passive waiting brought 2 threads back to 3.2-4.2 s
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
from naive_steps import naive_game
from results import record
from torch.utils.flop_counter import FlopCounterMode

from textgan.core.steps import d_step, g_step, mle_step
from textgan.core.trainer import Trainer
from textgan.device import keep_freed_cpu_memory
from textgan.games import build_game, load_recipe
from textgan.storage import RECIPES_DIR
from textgan.text import cpu_kernels

SMALL_DATA = ["data.n_train=640", "data.n_heldout=256"]  # the data size does not change a step's cost
# The peer's hyper-parameters where they differ from the recipes: TextGAN-PyTorch's CNN discriminators
# use one matrix for the highway's transform and gate (`models/discriminator.py`)
PEER_SETTINGS = ["model.d_shared_highway=true"]
GAMES = ("relgan", "seqgan")
STEPS = ("mle", "g", "d")
# TextGAN-PyTorch with its own defaults on this machine (2 cores, torch 2.13 CPU, torch's default
# threads): seconds per step, and RelGAN's peak resident memory (issue 7)
PEER_S = {"relgan": {"mle": 0.40, "g": 4.5, "d": 3.6}, "seqgan": {"mle": 0.025, "g": 34.0, "d": 0.066}}
PEER_PEAK_GB = 2.8
IMAGE_RECIPE = "dcgan_mnist"  # DCGAN (batch 64, 28 px MNIST digits): the image baselines' images/s
# relgan_oracle's published schedule: 150 MLE epochs, 3,000 adversarial epochs of 1 G + 5 D steps
SCHEDULE_MLE, SCHEDULE_ADV, N_CRITIC = 23_400, 3_000, 5


def make_trainer(recipe_name: str, device: torch.device, bf16: bool, out: Path, compile_: bool = False,
                 overrides: tuple[str, ...] = (*SMALL_DATA, *PEER_SETTINGS)) -> Trainer:
    """A trainer for the recipe with `overrides` (default: the text recipes' small data and peer settings)."""
    recipe = load_recipe(RECIPES_DIR / f"{recipe_name}.yaml", [*overrides, f"train.amp={str(bf16).lower()}",
                                                           f"train.compile={str(compile_).lower()}"])
    torch.manual_seed(0)
    trainer = Trainer(recipe, build_game(recipe, device), out, device)
    trainer.game.on_step(1, trainer.cfg.steps)
    return trainer


def step_fns(trainer: Trainer) -> dict[str, Callable[[], object]]:
    p, step = trainer.players, trainer.step
    return {"mle": lambda: mle_step(p, step), "g": lambda: g_step(p, step), "d": lambda: d_step(p, step)}


def timed(step: Callable[[], object], device: torch.device) -> tuple[float, float]:
    """Wall seconds and this process's CPU seconds (all threads) of one call."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start, cpu = time.perf_counter(), time.process_time()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, time.process_time() - cpu


def time_pair(trainer: Trainer, naive, kind: str, repeats: int, device: torch.device) -> dict[str, float]:
    """Median wall and CPU seconds of textgan's and the naive `kind` step, alternating, after one
    warm-up each: keys textgan, naive, textgan_cpu, naive_cpu."""
    game = trainer.players.game
    times: dict[str, list[float]] = {"textgan": [], "naive": [], "textgan_cpu": [], "naive_cpu": []}
    try:
        for i in range(repeats + 1):
            for version, g in (("textgan", game), ("naive", naive)):
                trainer.players.game = g
                wall, cpu = timed(step_fns(trainer)[kind], device)
                if i:
                    times[version].append(wall)
                    times[f"{version}_cpu"].append(cpu)
    finally:
        trainer.players.game = game
    return {key: statistics.median(values) for key, values in times.items()}


def image_figures(device: torch.device, bf16: bool, compile_: bool,
                  repeats: int, out: Path) -> dict[str, float]:
    """DCGAN's median seconds per D and G step (after one warm-up each) and its training throughput:
    the real images D trains on per second of training, n_critic x batch / (n_critic x D + G)."""
    trainer = make_trainer(IMAGE_RECIPE, device, bf16, out, compile_, overrides=())
    figures = {}
    for kind in ("d", "g"):
        step = step_fns(trainer)[kind]
        timed(step, device)
        figures[f"dcgan_{kind}_step_s"] = statistics.median(timed(step, device)[0] for _ in range(repeats))
    batch, n_critic = trainer.cfg.batch_size, trainer.cfg.n_critic
    iteration_s = n_critic * figures["dcgan_d_step_s"] + figures["dcgan_g_step_s"]
    return figures | {"dcgan_batch_size": batch, "dcgan_n_critic": n_critic,
                      "dcgan_images_per_s": n_critic * batch / iteration_s}


def step_gflop(step: Callable[[], object]) -> float:
    """Floating-point work of one call (matmuls and convolutions, as torch's FlopCounterMode counts them)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() / 1e9


def gemm_gflops(device: torch.device, repeats: int = 10) -> float:
    """The machine's fp32 matmul rate: median over `repeats` of RelGAN's highway product (4096 x 1200 by
    1200 x 1200), the largest matmul of its steps and one big enough to run at the library's best."""
    a, b = torch.randn(4096, 1200, device=device), torch.randn(1200, 1200, device=device)
    a @ b
    seconds = statistics.median(timed(lambda: a @ b, device)[0] for _ in range(repeats))
    return 2 * 4096 * 1200 * 1200 / seconds / 1e9


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB: Linux's VmHWM, which starts afresh at exec, unlike
    `ru_maxrss`, which a subprocess inherits from its parent's high-water mark across fork and exec."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_memory(name: str, device: torch.device, bf16: bool, compile_: bool) -> dict[str, float]:
    """In this (fresh) process: each of textgan's steps twice, then the peak resident memory in MB
    (and the peak CUDA allocation on a GPU)."""
    with tempfile.TemporaryDirectory() as tmp:
        trainer = make_trainer(f"{name}_oracle", device, bf16, Path(tmp), compile_)
        for step in step_fns(trainer).values():
            step()
            step()
    peak = {"peak_rss_mb": peak_rss_mb()}
    if device.type == "cuda":
        peak["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return peak


def peak_in_subprocess(name: str, args: argparse.Namespace) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--peak-of", name, "--device", args.device,
           "--threads", str(args.threads)]
    cmd += ["--bf16"] * args.bf16 + ["--compile"] * args.compile
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def schedule_hours(s: dict[str, float]) -> float:
    """relgan_oracle's full schedule from step times {mle, g, d}; evaluations not included."""
    return (SCHEDULE_MLE * s["mle"] + SCHEDULE_ADV * (s["g"] + N_CRITIC * s["d"])) / 3600


def load() -> tuple[float, float, float]:
    return os.getloadavg()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 timed steps each (default 10)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast on CUDA (train.amp)")
    parser.add_argument("--compile", action="store_true",
                        help="train.compile for textgan's steps (the naive reference stays eager; "
                             "the warm-up step waits for the compiler)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object last")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    parser.add_argument("--peak-of", choices=GAMES, help=argparse.SUPPRESS)  # the peak-memory subprocess
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_cpu_memory()  # as `textgan train` does
    device = torch.device(args.device)
    if args.peak_of:
        print(json.dumps(peak_memory(args.peak_of, device, args.bf16, args.compile)))
        return
    repeats = 3 if args.quick else 10
    load_start = load()
    figures: dict[str, float] = {"gemm_gflops": gemm_gflops(device)}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in GAMES:
            trainer = make_trainer(f"{name}_oracle", device, args.bf16, Path(tmp), args.compile)
            naive = naive_game(trainer.game)
            tokens = trainer.cfg.batch_size * trainer.game.seq_len
            for kind in STEPS:
                t = time_pair(trainer, naive, kind, repeats, device)
                ours, ref, cpu = t["textgan"], t["naive"], t["textgan_cpu"]
                peer = PEER_S[name][kind]
                gflop = figures[f"{name}_{kind}_gflop"] = step_gflop(step_fns(trainer)[kind])
                floor = gflop / figures["gemm_gflops"]
                figures[f"{name}_{kind}_step_s"], figures[f"naive_{name}_{kind}_step_s"] = ours, ref
                (figures[f"{name}_{kind}_step_cpu_s"],
                 figures[f"naive_{name}_{kind}_step_cpu_s"]) = cpu, t["naive_cpu"]
                rows.append(f"| {name} | {kind} | {ours:.4f} | {ref:.4f} | {ref / ours:.1f}x | {cpu:.4f} | "
                            f"{t['naive_cpu']:.4f} | {t['naive_cpu'] / cpu:.1f}x | {peer:g} | "
                            f"{peer / ours:.1f}x | {peer / cpu:.1f}x | {gflop:.1f} | {floor:.3f} | "
                            f"{floor / ours:.0%} | {tokens / ours:,.0f} |")
                print(rows[-1], flush=True)
        figures |= image_figures(device, args.bf16, args.compile, repeats, Path(tmp))
    load_end = load()
    figures |= {"load_1min_start": load_start[0], "load_1min_end": load_end[0],
                "threads": torch.get_num_threads()}
    peaks = {name: peak_in_subprocess(name, args) for name in GAMES}
    for name, peak in peaks.items():
        figures |= {f"{name}_{key}": value for key, value in peak.items()}
    figures["peak_rss_mb"] = max(peak["peak_rss_mb"] for peak in peaks.values())
    times = {v: {k: figures[f"{p}relgan_{k}_step_s"] for k in STEPS}
             for v, p in (("textgan", ""), ("naive", "naive_"))}
    figures["relgan_schedule_h"] = schedule_hours(times["textgan"])
    figures["relgan_schedule_cpu_h"] = schedule_hours({k: figures[f"relgan_{k}_step_cpu_s"] for k in STEPS})
    figures["naive_relgan_schedule_h"] = schedule_hours(times["naive"])
    figures["relgan_schedule_floor_h"] = schedule_hours(
        {k: figures[f"relgan_{k}_gflop"] / figures["gemm_gflops"] for k in STEPS})
    threads = (f"torch threads {torch.get_num_threads()}, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}"
               if device.type == "cpu" else str(device))
    figures["cpu_kernels"] = cpu_kernels.status()
    peak_rows = "\n".join(
        f"| {name} | {peak['peak_rss_mb'] / 1024:.2f} | {PEER_PEAK_GB} (RelGAN's) | "
        f"{peak['peak_rss_mb'] / 1024 / PEER_PEAK_GB:.2f} |"
        + (f" {peak['peak_cuda_mb']:.0f} MB CUDA |" if "peak_cuda_mb" in peak else "")
        for name, peak in peaks.items())
    body = (
        f"device {device}{' bf16' if args.bf16 else ''}"
        f"{', textgan with train.compile' if args.compile else ''}, "
        f"{threads}; CPU sampling and cross-entropy by {figures['cpu_kernels']}; load average (1, 5, 15 min) "
        f"{', '.join(f'{x:.2f}' for x in load_start)} at the start, "
        f"{', '.join(f'{x:.2f}' for x in load_end)} at the end of the timing (2 cores); {repeats} timed "
        "steps (median), textgan's and the naive reference's (benchmarks/naive_steps.py) alternating after "
        "one warm-up each; batch 64, length 20, vocabulary 5000; SeqGAN G step = 16 Monte-Carlo rollouts + "
        f"REINFORCE; D with the peer's shared highway ({', '.join(PEER_SETTINGS)}). Peer: TextGAN-PyTorch on "
        "this machine with torch's default threads (issue 7).\n\n"
        "CPU s = this process's CPU time per step over all its threads: far less load-dependent than wall "
        "time, though contention still inflates it. Peer / CPU s bounds the speed-up over the peer from "
        "below, assuming the peer's wall times were measured with at least one core to itself.\n\n"
        "| game | step | textgan s/step | naive s/step | speed-up vs naive | textgan CPU s | naive CPU s "
        "| CPU speed-up vs naive | peer s/step | speed-up vs peer | peer / textgan CPU s | GFLOP | floor s "
        "| floor / textgan | tokens/s (textgan) |"
        "\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
        "GFLOP: one step's matmul and convolution work (torch's FlopCounterMode; elementwise work, "
        "sampling and memory traffic not counted). Floor: that work at this machine's measured fp32 "
        f"matmul rate, {figures['gemm_gflops']:.0f} GFLOP/s (a 4096 x 1200 by 1200 x 1200 product, "
        f"{threads}), the best rate measured here: a lower bound on the step for any implementation of the "
        "same arithmetic, and floor / textgan the share of the step that runs at that rate.\n\n"
        f"Image baseline, {IMAGE_RECIPE} (DCGAN, batch {figures['dcgan_batch_size']}, 1 x 28 x 28, n_critic "
        f"{figures['dcgan_n_critic']}), textgan only, timed after the text games:\n\n"
        "| recipe | D s/step | G s/step | images/s (D step) | training images/s |\n|---|---|---|---|---|\n"
        f"| {IMAGE_RECIPE} | {figures['dcgan_d_step_s']:.4f} | {figures['dcgan_g_step_s']:.4f} | "
        f"{figures['dcgan_batch_size'] / figures['dcgan_d_step_s']:,.0f} | "
        f"{figures['dcgan_images_per_s']:,.0f} |\n\n"
        "Training images/s: the real images D trains on per second of training, n_critic x batch / "
        "(n_critic x D step + G step).\n\n"
        "Peak resident memory, textgan's steps only, one fresh process per game:\n\n"
        "| game | peak RSS GB | peer GB | ratio |" + (" peak CUDA |\n|---|---|---|---|---|\n"
                                                      if device.type == "cuda"
                                                      else "\n|---|---|---|---|\n") + peak_rows + "\n\n"
        f"full relgan_oracle schedule ≈ {figures['relgan_schedule_h']:.1f} h on this machine at this load "
        f"({SCHEDULE_MLE:,} MLE steps + {SCHEDULE_ADV:,} x (1 G + {N_CRITIC} D) at the step times above, "
        f"evaluations not included; naive reference {figures['naive_relgan_schedule_h']:.1f} h, "
        f"peer {schedule_hours(PEER_S['relgan']):.1f} h); its CPU time "
        f"{figures['relgan_schedule_cpu_h']:.1f} CPU-hours, i.e. at most that long on the 2 cores with the "
        "machine to itself; its matmul work alone, at the measured rate, takes "
        f"{figures['relgan_schedule_floor_h']:.1f} h (the floor for any implementation of the same "
        "arithmetic on this machine)"
    )
    print(body)
    if not args.no_record:
        record("bench_train: text GAN step times on the oracle, textgan vs naive vs peer"
               + (" (quick)" if args.quick else "") + (" (train.compile)" if args.compile else ""), body)
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
