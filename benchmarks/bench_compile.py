"""What `train.compile` buys: seconds per step of the text games on the oracle, eager against
torch.compile, on the same weights and hyper-parameters as `bench_train.py` (the peer's shared highway).

    python benchmarks/bench_compile.py                      # CPU, 2 threads: about 10 minutes (compiling)
    python benchmarks/bench_compile.py --device cuda --bf16

Two trainers from the same seed, one compiled; per step kind the compiled one's first call (which waits
for the compiler) is reported on its own, then the two alternate and the medians are compared, so load
swings hit both alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as bench_train.py: yielding OpenMP threads

import torch
from bench_train import GAMES, STEPS, load, make_trainer, step_fns, timed
from results import record

from textgan.device import keep_freed_cpu_memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--bf16", action="store_true", help="bfloat16 autocast on CUDA (train.amp)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default 2)")
    parser.add_argument("--repeats", type=int, default=4, help="timed steps per version (median)")
    parser.add_argument("--no-record", action="store_true", help="do not append to benchmarks/RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_cpu_memory()
    device = torch.device(args.device)
    load_start = load()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in GAMES:
            eager, compiled = (make_trainer(f"{name}_oracle", device, args.bf16, Path(tmp, str(c)), c)
                               for c in (False, True))
            for kind in STEPS:
                timed(step_fns(eager)[kind], device)
                first = timed(step_fns(compiled)[kind], device)[0]
                times: dict[bool, list[float]] = {False: [], True: []}
                for _ in range(args.repeats):
                    for flag, trainer in ((False, eager), (True, compiled)):
                        times[flag].append(timed(step_fns(trainer)[kind], device)[0])
                e, c = statistics.median(times[False]), statistics.median(times[True])
                rows.append(f"| {name} | {kind} | {e:.4f} | {c:.4f} | {e / c:.2f}x | {first:.1f} |")
                print(rows[-1], flush=True)
    threads = f"torch threads {torch.get_num_threads()}" if device.type == "cpu" else str(device)
    body = (f"device {device}{' bf16' if args.bf16 else ''}, {threads}; load average (1, 5, 15 min) "
            f"{', '.join(f'{x:.2f}' for x in load_start)} at the start, "
            f"{', '.join(f'{x:.2f}' for x in load())} at the end; median of {args.repeats} steps each, eager "
            "and compiled alternating; batch 64, length 20, vocabulary 5000, D with the peer's shared "
            "highway. First compiled call: the step that waits for the compiler (a warm cache in "
            "/tmp/torchinductor_* shortens it).\n\n"
            "| game | step | eager s/step | compiled s/step | speed-up | first compiled call s |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(rows))
    print(body)
    if not args.no_record:
        record("bench_compile: text GAN steps, eager vs train.compile", body)


if __name__ == "__main__":
    main()
