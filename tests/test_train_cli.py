"""End-to-end checks of `textgan train` on a tiny toy recipe, through the real command line."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from runs import assert_resumes_like, run_cli

from textgan.cli import main
from textgan.games import load_recipe
from textgan.storage import RECIPES_DIR

TINY = """\
name: tiny
game: toy
seed: 3
data: {mixture: ring, n_train: 4000, n_heldout: 200, n_eval: 500}
model: {z_dim: 4, g_hidden: 32, g_layers: 2, d_hidden: 32, d_layers: 2}
train: {steps: STEPS, batch_size: 64, ema_decay: 0.9, log_every: 5, checkpoint_every: 20, progress: false}
loss: {name: ns, r1_weight: 0.5, instance_noise: 0.1, instance_noise_anneal_steps: 100}
optim_g: {name: adam, lr: 1.0e-3, schedule: cosine}
optim_d: {name: adam, lr: 1.0e-3, clip_norm: 5.0}
eval: {every: 50, metric: high_quality_fraction, mode: max}
"""


def write_recipe(tmp_path: Path, steps: int) -> Path:
    path = tmp_path / f"tiny_{steps}.yaml"
    path.write_text(TINY.replace("STEPS", str(steps)))
    return path


def test_train_writes_the_run_folder(tmp_path: Path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(write_recipe(tmp_path, 60)), "--out", str(out)]) == 0
    assert "results:" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["steps"] == 60 and 0 <= summary["modes_covered"] <= 8
            and "best_high_quality_fraction" in summary)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(5, 61, 5))
    doctor_signals = {"grad_norm_g", "grad_norm_d", "d_acc_real", "d_acc_fake", "d_real", "d_fake",
                      "d_heldout", "d_train_slice", "rt", "lr_g", "lr_d", "step_time_s", "instance_noise"}
    assert doctor_signals <= set(records[0])
    assert {"modes_covered", "high_quality_fraction", "mode_kl"} <= set(records[9])
    assert (out / "config.yaml").is_file() and (out / "samples" / "step_0000050.png").is_file()
    assert (out / "curves.png").read_bytes().startswith(b"\x89PNG")
    assert {p.name for p in (out / "checkpoints").iterdir()} == {"last.pt", "best.pt"}


def test_adversarial_evaluations_count_from_the_phase_start(tmp_path: Path):
    """eval.every_adversarial: a short adversarial phase after D pre-training gets its own cadence."""
    recipe = tmp_path / "adv.yaml"
    recipe.write_text(TINY.replace("STEPS", "12")
                      .replace("batch_size: 64", "pretrain_d_steps: 7, batch_size: 64")
                      .replace("eval: {every: 50", "eval: {every: 5, every_adversarial: 4"))
    out = tmp_path / "run"
    assert main(["train", str(recipe), "--out", str(out)]) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    evaluated = [r["step"] for r in records if "modes_covered" in r]
    assert evaluated == [5, 7, 11, 15, 19]  # every 5 in D pre-training, its end, then every 4 from step 7


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path: Path):
    recipe = write_recipe(tmp_path, 400)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert run_cli("train", str(recipe), "--out", str(straight)).returncode == 0

    assert_resumes_like(recipe, straight, killed, 400, "modes_covered")
    steps = [json.loads(line)["step"] for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 400


def _error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("done")
    recipe = write_recipe(tmp, 20)
    out = tmp / "run"
    assert main(["train", str(recipe), "--out", str(out)]) == 0
    return recipe, out


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--set", "train.stepz=3"], "unknown recipe key 'train.stepz'; did you mean train.steps?"),
        (["--set", "train.steps=many"], "expects int"),
        (["--set", "loss.name=wgangp"], "did you mean 'wgan-gp'?"),
        (["--device", "tpu"], "invalid choice"),
        # refused before any file is written
        (["--set", "eval.metric=nonsense"], "is not computed by this game"),
        pytest.param(["--set", "train.tensorboard=true"], "tensorboard is not installed",
                     marks=pytest.mark.skipif(importlib.util.find_spec("tensorboard") is not None,
                                              reason="tensorboard is installed")),
    ],
)
def test_bad_recipe_values_exit_2(tmp_path: Path, extra, message):
    line = _error_line(run_cli("train", str(write_recipe(tmp_path, 5)), "--out", str(tmp_path / "o"), *extra))
    assert message in line
    assert not (tmp_path / "o").exists()


def test_missing_recipe_and_unwritable_out(tmp_path: Path):
    assert "recipe file not found" in _error_line(run_cli("train", str(tmp_path / "nope.yaml")))
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    line = _error_line(run_cli("train", str(write_recipe(tmp_path, 5)), "--out", str(blocker / "run")))
    assert "cannot write to output folder" in line


def test_resume_with_a_different_model_shape_is_refused(finished_run):
    recipe, out = finished_run
    before = (out / "checkpoints" / "last.pt").read_bytes()
    line = _error_line(run_cli("train", str(recipe), "--out", str(out), "--resume",
                               "--set", "model.g_hidden=16"))
    assert "incompatible run" in line and "g_hidden" in line
    assert (out / "checkpoints" / "last.pt").read_bytes() == before


def test_existing_run_is_not_overwritten(finished_run):
    recipe, out = finished_run
    metrics = (out / "metrics.jsonl").read_text()
    assert "already holds a run" in _error_line(run_cli("train", str(recipe), "--out", str(out)))
    assert (out / "metrics.jsonl").read_text() == metrics


def test_recipes_lists_bundled_recipes(capsys):
    assert main(["recipes"]) == 0
    assert "toy_grid" in capsys.readouterr().out


def test_help_and_version_answer_without_importing_torch():
    """`textgan --help`, a sub-command's --help and --version load no heavy library (they answer at once)."""
    code = ("import sys; from textgan.cli import main\n"
            "for argv in (['--help'], ['train', '--help'], ['sample', '--help'], ['doctor', '--help'], "
            "['--version']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "heavy = [m for m in ('torch', 'numpy', 'transformers', 'matplotlib') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in done.stdout and "textgan " in done.stdout


def test_recipes_prints_a_bundled_recipe_to_copy(tmp_path: Path, capsys):
    assert main(["recipes", "demo_oracle"]) == 0
    copy = tmp_path / "mine.yaml"
    copy.write_text(capsys.readouterr().out)
    assert load_recipe(copy).train.steps == load_recipe(RECIPES_DIR / "demo_oracle.yaml").train.steps
    assert main(["recipes", "--path"]) == 0 and capsys.readouterr().out.strip() == str(RECIPES_DIR)
    for name in ("no_such_recipe", "../cli"):
        assert main(["recipes", name]) == 2
        assert capsys.readouterr().err.startswith("error: no bundled recipe")
