"""The CUDA path of the trainer: bf16 autocast runs of the toy and text games, channels-last image
networks with fused optimisers, torch.compile, pinned-memory feature extraction, and NCCL data
parallelism through torchrun. Marked `cuda`; skipped without a GPU (run by benchmarks/gpu_check.sh)."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.runs import run_cli

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(),
                                                   reason="needs a CUDA device")]

TOY = ["train.steps=200", "train.log_every=50", "eval.every=100", "train.progress=false", "train.amp=true"]
RELGAN = ["data.n_train=640", "data.n_heldout=256", "data.n_eval=512", "train.pretrain_steps=20",
          "train.steps=10", "train.log_every=5", "eval.every=10", "train.progress=false", "train.amp=true"]


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
           "-m", "textgan", "train", "toy_grid", "--device", "cuda", "--out",
           str(tmp_path / "run"), *sets(TOY)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False, env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-3000:]
    assert summary(tmp_path / "run")["steps"] == 200


def test_image_networks_are_channels_last_with_fused_optimisers_on_cuda(tmp_path: Path):
    from textgan.core.steps import d_step, g_step
    from textgan.core.trainer import Trainer
    from textgan.games import build_game, load_recipe
    from textgan.storage import RECIPES_DIR

    device = torch.device("cuda")
    recipe = load_recipe(RECIPES_DIR / "dcgan_mnist.yaml", ["data.max_images=1000", "data.classifier_steps=0",
                                                            "train.amp=true", "train.progress=false"])
    trainer = Trainer(recipe, build_game(recipe, device), tmp_path / "run", device)
    convs = [m.weight for net in (trainer.game.generator, trainer.game.discriminator) for m in net.modules()
             if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    assert convs and all(w.is_cuda and w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    players = trainer.players
    assert players.g.optimizer.defaults["fused"] and players.d.optimizer.defaults["fused"]
    stats = d_step(players, 1) | g_step(players, 1)
    assert all(math.isfinite(v) for v in stats.values())


def test_compiled_relgan_run_on_cuda(tmp_path: Path):
    done = run_cli("train", "relgan_oracle", "--device", "cuda", "--out", str(tmp_path / "run"),
                   *sets([*RELGAN, "train.compile=true"]))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "nll_oracle" in summary(tmp_path / "run")


def test_feature_extraction_from_pinned_memory_equals_the_cpu_one():
    from textgan.image.features import ModuleExtractor

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU())
    images = torch.rand(130, 3, 16, 16)
    on_cpu = ModuleExtractor("probe", net, lambda x: x, False).features(images)[0]
    on_gpu = ModuleExtractor("probe", net, lambda x: x, False, device="cuda").features(images)[0]
    assert on_gpu.shape == (130, 8)
    assert abs(on_gpu - on_cpu).max() < 5e-3  # cuDNN convolutions run in TF32 by default
