"""The CUDA path of the trainer: bf16 autocast runs of the toy and text games, and NCCL data
parallelism through torchrun. Marked `cuda`; skipped without a GPU (run by benchmarks/gpu_check.sh)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.runs import run_cli

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

TOY = ["train.steps=200", "train.log_every=50", "eval.every=100", "train.progress=false", "train.amp=true"]
RELGAN = ["data.n_train=640", "data.n_heldout=256", "data.n_eval=512", "train.pretrain_steps=20", "train.steps=10",
          "train.log_every=5", "eval.every=10", "train.progress=false", "train.amp=true"]


def sets(overrides: list[str]) -> list[str]:
    return [a for o in overrides for a in ("--set", o)]


def summary(run: Path) -> dict[str, float]:
    return json.loads((run / "summary.json").read_text())


@pytest.mark.parametrize(("recipe", "overrides", "metric"), [("toy_grid", TOY, "modes_covered"),
                                                               ("relgan_oracle", RELGAN, "nll_oracle")])
def test_bf16_autocast_run_on_cuda(tmp_path: Path, recipe: str, overrides: list[str], metric: str):
    done = run_cli("train", recipe, "--device", "cuda", "--out", str(tmp_path / "run"), *sets(overrides))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "on cuda" in done.stdout
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [r[k] for r in records for k in ("d_loss", "g_loss", "mle_loss") if k in r]
    assert losses and all(map(torch.isfinite, torch.tensor(losses)))
    assert metric in summary(tmp_path / "run")


def test_nccl_data_parallel_run(tmp_path: Path):
    """torchrun with one process per visible GPU (at least one): NCCL initialises and the run finishes."""
    n = torch.cuda.device_count()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n),
           "-m", "textgan", "train", "toy_grid", "--device", "cuda", "--out", str(tmp_path / "run"), *sets(TOY)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False, env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-3000:]
    assert summary(tmp_path / "run")["steps"] == 200
