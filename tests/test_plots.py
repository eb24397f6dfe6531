"""The run's curves: one unit per panel (a game's BLEU never shares an axis with an NLL or β), every
evaluation metric plotted even when every record is an evaluation, and the report's summary, recipe
and adversarial-start marker."""

import json
from pathlib import Path

import yaml

from textgan.cli import main
from textgan.core.plots import TRAINER_PANELS, adversarial_start, panel_series, plot_training_curves
from textgan.games import metric_panels


def eval_every_record(n: int = 6) -> list[dict]:
    """A text run that evaluated at every logged record (so no key is "only on some records")."""
    return [{"step": 10 * i, "d_loss": 0.5, "g_loss": 1.0, "beta": 1.0 + i, "lr_pretrain": 1e-2,
             "reward_mean": 0.1, "nll_gen": 5.0 - 0.1 * i, "nll_oracle": 9.0, "bleu_2": 0.6, "bleu_5": 0.1,
             "self_bleu_2": 0.7, "distinct_1": 0.1, "fed": 0.3, "is_std": 0.1} for i in range(1, n + 1)]


def test_each_panel_holds_one_unit_and_nothing_is_dropped():
    panels = {p.title: set(series) for p, series in panel_series(eval_every_record(), metric_panels("text"))}
    where = {key: title for title, keys in panels.items() for key in keys}
    assert where["nll_gen"] == where["nll_oracle"]
    assert len({where["bleu_2"], where["nll_gen"], where["beta"], where["self_bleu_2"], where["distinct_1"],
                where["reward_mean"], where["lr_pretrain"]}) == 7
    assert panels["fed"] == {"fed"}  # a key no panel names gets a panel of its own
    assert "is_std" not in where  # the spread of a metric is not a curve of its own


def test_every_game_declares_panels_for_its_metrics():
    trainer_keys = {k for p in TRAINER_PANELS for k in p.keys}
    for game in ("text", "image", "toy"):
        keys = [k for p in metric_panels(game) for k in p.keys]
        assert keys and len(keys) == len(set(keys)) and not trainer_keys & set(keys)
    assert metric_panels("no-such-game") == ()


def test_adversarial_start_counts_both_pre_training_phases():
    assert adversarial_start({"train": {"pretrain_steps": 100, "pretrain_d_steps": 20, "steps": 5}}) == 120
    # MLE only: no adversarial phase
    assert adversarial_start({"train": {"pretrain_steps": 100, "steps": 0}}) == 0
    assert adversarial_start({}) == 0


def write_text_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in eval_every_record()))
    (run / "config.yaml").write_text(yaml.safe_dump({"game": "text",
                                                     "train": {"pretrain_steps": 30, "steps": 30}}))
    (run / "summary.json").write_text(json.dumps({"nll_oracle": 8.61234, "steps": 60}))
    return run


def test_curves_png_is_written_for_a_run_that_evaluated_every_record(tmp_path):
    path = plot_training_curves(write_text_run(tmp_path), metric_panels("text"))
    assert path is not None and path.read_bytes().startswith(b"\x89PNG")


def test_report_has_the_summary_the_recipe_and_the_adversarial_start(tmp_path):
    run = write_text_run(tmp_path)
    assert main(["report", str(run)]) == 0
    page = (run / "report.html").read_text()
    assert "<td>nll_oracle</td><td>8.612</td>" in page and "pretrain_steps: 30" in page
    assert "adversarial start (step 30)" in page and "BLEU-n against the test set" in page


def test_report_shows_the_sweep_when_the_run_has_one(tmp_path):
    run = write_text_run(tmp_path)
    (run / "sweep").mkdir()
    (run / "sweep" / "sweep.txt").write_text("temperature  nll_gen\n0.5000  5.1234\n")
    assert main(["report", str(run)]) == 0
    assert ("Temperature sweep" in (run / "report.html").read_text()
            and "5.1234" in (run / "report.html").read_text())


def test_a_report_of_several_runs_compares_them(tmp_path, monkeypatch):
    a = write_text_run(tmp_path / "a")
    b = write_text_run(tmp_path / "b")
    (b / "summary.json").write_text(json.dumps({"nll_oracle": 7.5, "steps": 60}))
    monkeypatch.chdir(tmp_path)
    assert main(["report", str(a), str(b)]) == 0
    page = (tmp_path / "report-compare.html").read_text()
    assert f"<th>{a}</th><th>{b}</th>" in page  # both folders are named "run": their paths label them
    assert "<td>nll_oracle</td><td>8.612</td><td>7.5</td>" in page
    assert page.count("<img") == len(panel_series(eval_every_record(), metric_panels("text")))
