"""A run folder never traps its user: a run that stopped before its first checkpoint starts over
(with or without --resume), a second writer is refused while the first holds the lock, Ctrl-C
(SIGINT) or SIGTERM saves a checkpoint at the end of the step and says how to resume, and a
divergence before any checkpoint says that none was kept."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from runs import assert_same_weights, run_cli
from test_train_cli import _error_line, write_recipe

from textgan.cli import main
from textgan.core.checkpoint import load_checkpoint
from textgan.run_folder import RunLock


def test_a_run_stopped_before_its_first_checkpoint_starts_over(tmp_path: Path, capsys):
    recipe, out = write_recipe(tmp_path, 10), tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"step": 5, "d_loss": 1.0}\n')
    (out / "config.yaml").write_text("game: toy\n")
    (out / "notes.txt").write_text("mine")
    assert main(["train", str(recipe), "--out", str(out), "--set", "train.checkpoint_every=1000"]) == 0
    assert "stopped before its first checkpoint: starting it over" in capsys.readouterr().err
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [5, 10] and (out / "notes.txt").read_text() == "mine"


def test_resume_of_a_folder_without_a_checkpoint_starts_a_new_run(tmp_path: Path, capsys):
    assert main(["train", str(write_recipe(tmp_path, 5)), "--out", str(tmp_path / "new"), "--resume"]) == 0
    assert "holds no run yet: starting a new one" in capsys.readouterr().err
    assert load_checkpoint(tmp_path / "new" / "checkpoints" / "last.pt")["step"] == 5


def test_a_second_writer_is_refused_while_the_first_holds_the_folder(tmp_path: Path):
    out = tmp_path / "run"
    out.mkdir()
    lock = RunLock(out)
    lock.acquire()
    try:
        line = _error_line(run_cli("train", str(write_recipe(tmp_path, 5)), "--out", str(out)))
        assert "is in use by textgan pid" in line and "choose another --out" in line
        assert not (out / "metrics.jsonl").exists()
    finally:
        lock.release()
    assert run_cli("train", str(write_recipe(tmp_path, 5)), "--out", str(out)).returncode == 0


def test_sigint_saves_a_checkpoint_and_resume_ends_as_an_uninterrupted_run(tmp_path: Path):
    recipe, out = write_recipe(tmp_path, 1500), tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "textgan", "train", str(recipe), "--out", str(out),
                             "--set", "train.checkpoint_every=100000"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "metrics.jsonl").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"--out {out} --resume" in err and "Traceback" not in err
    assert 0 < load_checkpoint(out / "checkpoints" / "last.pt")["step"] < 1500
    resumed = run_cli("train", str(recipe), "--out", str(out), "--resume",
                      "--set", "train.checkpoint_every=100000")
    assert resumed.returncode == 0, resumed.stderr
    whole = tmp_path / "whole"
    assert run_cli("train", str(recipe), "--out", str(whole),
                   "--set", "train.checkpoint_every=100000").returncode == 0
    assert_same_weights(out, whole)


def test_divergence_before_any_checkpoint_says_none_was_kept(tmp_path: Path):
    out = tmp_path / "nan"
    result = run_cli("train", str(write_recipe(tmp_path, 50)), "--out", str(out), "--set", "optim_d.name=sgd",
                     "--set", "optim_d.lr=1e6", "--set", "optim_g.name=sgd", "--set", "optim_g.lr=1e6",
                     "--set", "train.checkpoint_every=1000", "--set", "loss.r1_weight=0")
    line = _error_line(result)
    assert "diverged" in line and "no checkpoint had been saved yet" in line
    assert run_cli("train", str(write_recipe(tmp_path, 5)), "--out", str(out)).returncode == 0  # not a trap


def test_no_output_may_overwrite_a_runs_own_files(tmp_path: Path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(write_recipe(tmp_path, 5)), "--out", str(out)]) == 0
    kept = {name: (out / name).read_bytes() for name in ("config.yaml", "metrics.jsonl")}
    capsys.readouterr()
    for command in (["report", str(out), "--out", str(out / "metrics.jsonl")],
                    ["report", str(out), "--out", str(out / "checkpoints" / "report.html")],
                    ["doctor", str(out), "--json"]):
        code = main(command)
        err = capsys.readouterr().err.strip().splitlines()
        if command[0] == "doctor":
            assert code == 0
            continue
        assert code == 2 and len(err) == 1 and "would overwrite a file of the run" in err[0], err
    (tmp_path / "a_file").write_text("")
    assert main(["report", str(out), "--out", str(tmp_path / "a_file" / "r.html")]) == 2
    assert "cannot write the report" in capsys.readouterr().err
    assert {name: (out / name).read_bytes() for name in kept} == kept
