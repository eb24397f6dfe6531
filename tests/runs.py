"""Helpers for tests that drive `textgan` as a user does: a subprocess per command, and a run
killed with SIGKILL right after its first checkpoint."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from textgan.core.checkpoint import load_checkpoint


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "textgan", *args], check=False, capture_output=True, text=True, timeout=300
    )


def kill_after_first_checkpoint(recipe: Path, out: Path) -> int:
    """Start `textgan train RECIPE --out OUT`, SIGKILL it as soon as `last.pt` exists, and return the
    step that checkpoint holds."""
    proc = subprocess.Popen([sys.executable, "-m", "textgan", "train", str(recipe), "--out", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = out / "checkpoints" / "last.pt"
    deadline = time.time() + 120
    while not last.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return load_checkpoint(last)["step"]


def assert_same_weights(run_a: Path, run_b: Path) -> None:
    """The final generator, discriminator and EMA weights (when EMA is on) of two runs are bit-for-bit
    equal."""
    a = load_checkpoint(run_a / "checkpoints" / "last.pt")
    b = load_checkpoint(run_b / "checkpoints" / "last.pt")
    assert (a["ema"] is None) == (b["ema"] is None), "EMA in one run only"
    for part in ["generator", "discriminator"] + (["ema"] if a["ema"] is not None else []):
        assert a[part].keys() == b[part].keys(), part
        assert all(torch.equal(a[part][k], b[part][k]) for k in a[part]), part


def assert_resumes_like(recipe: Path, straight: Path, killed: Path, total_steps: int, metric: str) -> None:
    """Train `recipe` into `killed`, SIGKILL it after its first checkpoint, resume it, and check that it
    ends as the uninterrupted run `straight`: the same weights bit for bit and the same summary `metric`."""
    killed_at = kill_after_first_checkpoint(recipe, killed)
    assert killed_at < total_steps, "the run finished before it could be killed"
    resumed = run_cli("train", str(recipe), "--out", str(killed), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_weights(straight, killed)
    assert json.loads((killed / "summary.json").read_text())[metric] == \
        json.loads((straight / "summary.json").read_text())[metric]
