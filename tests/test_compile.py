"""`train.compile`: the networks run through torch.compile, compute what the eager ones compute
(one MLE, D and G step each, same weights and same random numbers), keep their state-dict keys, and
D stays eager where a gradient penalty needs double backward.

The text test compiles with dynamo and AOT autograd but eager kernels (`aot_eager`): what textgan
controls (which methods are captured, whole graphs rather than skipped frames, forward and backward
through them) at a tenth of inductor's C++ build time (2.5 min on a cold cache here); the toy test runs
inductor itself.
"""

import functools
from pathlib import Path

import pytest
import torch
from torch._dynamo.utils import counters

from textgan.core.steps import d_step, g_step, mle_step
from textgan.core.trainer import Trainer
from textgan.games import build_game, recipe_from_dict

torch.set_num_threads(1)

TEXT = {
    "game": "text", "seed": 3,
    "data": {"source": "oracle", "oracle": "random", "oracle_vocab": 30, "seq_len": 6, "n_train": 64,
             "n_heldout": 32, "n_eval": 40},
    "model": {"generator": "rmc", "emb_dim": 8, "mem_slots": 1, "num_heads": 2, "head_size": 4,
              "d_emb_dim": 8, "num_rep": 4, "d_filter_sizes": [2, 3], "d_num_filters": [8, 8],
              "signal": "gumbel"},
    "train": {"batch_size": 8, "steps": 4, "pretrain_steps": 2, "ema_decay": 0.9, "progress": False},
    "loss": {"name": "rsgan"},
    "doctor": {"mode": "off"},
}
TOY = {"game": "toy", "seed": 3, "data": {"mixture": "ring"}, "model": {"g_hidden": 32, "d_hidden": 32},
       "train": {"batch_size": 16, "steps": 3, "progress": False}, "doctor": {"mode": "off"}}


def trainer(tmp_path: Path, compile_: bool, recipe: dict = TEXT) -> Trainer:
    recipe = recipe_from_dict({**recipe, "train": {**recipe["train"], "compile": compile_}})
    torch.manual_seed(0)
    return Trainer(recipe, build_game(recipe, torch.device("cpu")),
                   tmp_path / str(compile_), torch.device("cpu"))


def same_step_results(eager: Trainer, compiled: Trainer, steps: tuple) -> None:
    """Each step once on both trainers from the same random state: the logged losses, D outputs and
    gradient norms agree. (Weights are not compared: Adam turns a 1e-7 difference in a near-zero
    gradient into a full lr-sized step.)"""
    for step in steps:
        results = []
        for t in (eager, compiled):
            torch.manual_seed(1)
            results.append(step(t.players, 1))
        for key, value in results[0].items():
            assert results[1][key] == pytest.approx(value, rel=1e-4, abs=1e-6), (step, key)


def test_compiled_text_steps_equal_the_eager_ones(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    eager, compiled = trainer(tmp_path, False), trainer(tmp_path, True)
    G, D = compiled.game.generator, compiled.game.discriminator
    assert {"features", "step_features"} <= G.__dict__.keys() and "forward" in D.__dict__
    assert compiled.state_dict()["generator"].keys() == eager.state_dict()["generator"].keys()
    assert not {"features", "step_features"} & compiled.ema.module.__dict__.keys()  # the EMA copy stays eager
    counters.clear()
    same_step_results(eager, compiled, (mle_step, d_step, g_step))
    # G's features and step, D's forward: compiled, not skipped
    assert counters["stats"]["unique_graphs"] >= 3


# the same random numbers as eager; `config.patch`, not monkeypatch: monkeypatch's undo deletes the
# key, and every later inductor compile in the session fails on it (checked)
@torch._inductor.config.patch(fallback_random=True)
def test_inductor_compiled_toy_steps_equal_the_eager_ones(tmp_path: Path):
    recipe = {**TOY, "loss": {"name": "ns"}}
    eager, compiled = trainer(tmp_path, False, recipe), trainer(tmp_path, True, recipe)
    assert "forward" in compiled.game.generator.__dict__ and "forward" in compiled.game.discriminator.__dict__
    counters.clear()
    same_step_results(eager, compiled, (d_step, g_step))
    assert counters["stats"]["unique_graphs"] >= 2  # nn.Sequential too: not skipped as nn.Module.compile is


def test_a_gradient_penalty_keeps_d_eager(tmp_path: Path, capsys):
    t = trainer(tmp_path, True, {**TOY, "loss": {"name": "ns", "r1_weight": 0.1}})
    assert "forward" in t.game.generator.__dict__ and "forward" not in t.game.discriminator.__dict__
    assert "train.compile leaves D eager" in capsys.readouterr().err
    d_step(t.players, 1)  # R1's double backward through the eager D
