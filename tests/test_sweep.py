"""Quality–diversity sweep over temperature on a tiny untrained LSTM and a random oracle, and
`textgan sweep RUN_DIR` end to end on tiny text and oracle runs."""

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from test_text_game import ORACLE, TINY_MODEL, WORDS, error_line, text_recipe, write_corpus

from textgan.cli import main
from textgan.config import save_recipe
from textgan.errors import UserError
from textgan.evaluate import evaluate_text
from textgan.games import recipe_from_dict
from textgan.metrics import nll_gen, nll_oracle
from textgan.sweep import Tempered, format_table, plot_sweep, sweep
from textgan.text.generators import LSTMGenerator
from textgan.text.oracle import Oracle
from textgan.text.sampling import load_run_generator, sample_run
from textgan.text.tokenize import WordTokenizer

V, T = 12, 6


@pytest.fixture()
def setup():
    torch.manual_seed(0)
    g = LSTMGenerator(V, emb_dim=8, hidden_dim=8, bos_id=0)
    with torch.no_grad():
        g.out.weight.mul_(20)  # a peaked model, so temperature matters
    oracle = Oracle.random(V, seq_len=T, emb=4, hidden=4, seed=1)
    test = oracle.sample(30, generator=torch.Generator().manual_seed(2))
    return g, oracle, test


def test_tempered_log_probs_are_the_scaled_softmax(setup):
    g, _, test = setup
    expected = torch.log_softmax(g(test) / 0.5, -1).gather(-1, test[..., None])[..., 0]
    torch.testing.assert_close(Tempered(g, 0.5).log_probs(test), expected)


def test_rows_match_the_metrics_and_low_temperature_collapses(setup, tmp_path):
    g, oracle, test = setup
    words = [f"w{i}" for i in range(V)]
    rows = sweep(g, [0.01, 1.0], 40, T, test, pad_id=None, oracle=oracle,
                 decode=lambda s: [" ".join(words[i] for i in row) for row in s.tolist()],
                 references=[" ".join(words[i] for i in row) for row in test.tolist()], tokenize=str.split)
    assert [r["temperature"] for r in rows] == [0.01, 1.0]
    assert set(rows[0]) == {"temperature", "nll_gen", "nll_oracle", "bleu_2", "bleu_5", "self_bleu_2",
                            "self_bleu_5", "distinct_2", "distinct_4"}
    assert rows[1]["nll_gen"] == pytest.approx(nll_gen(g, test, pad_id=None), rel=1e-6)
    torch.manual_seed(0)
    assert rows[1]["nll_oracle"] == pytest.approx(nll_oracle(oracle, g.sample(40, T)), rel=1e-6)
    assert rows[0]["self_bleu_5"] == pytest.approx(1.0)  # near-greedy: every sample the same sentence
    assert rows[0]["distinct_2"] <= 5 / (5 * 40) < rows[1]["distinct_2"]  # one sentence's 5 bigrams, 40 times
    assert rows[1]["self_bleu_5"] < 1.0
    assert rows[0]["nll_gen"] > rows[1]["nll_gen"]  # a sharpened model explains test data worse
    assert g.training, "the generator's training flag is restored"
    assert "temperature" in format_table(rows).splitlines()[0] and len(format_table(rows).splitlines()) == 3
    plot_sweep({"run": rows}, tmp_path / "sweep.png")
    assert (tmp_path / "sweep.png").read_bytes()[:4] == b"\x89PNG"


def test_oracle_rows_carry_the_distinct_n_of_the_sampled_ids(setup):
    g, oracle, test = setup
    rows = sweep(g, [0.7], 40, T, test, pad_id=None, oracle=oracle,
                 row_tokens=lambda s: [[str(i) for i in row] for row in s.tolist()])
    assert set(rows[0]) == {"temperature", "nll_gen", "nll_oracle", "distinct_2", "distinct_4"}
    torch.manual_seed(0)
    samples = g.sample(40, T, temperature=0.7).tolist()
    for n in (2, 4):
        grams = [tuple(row[i:i + n]) for row in samples for i in range(T - n + 1)]
        assert rows[0][f"distinct_{n}"] == pytest.approx(len(set(grams)) / len(grams))


def test_bad_temperatures_are_user_errors(setup):
    g, _, test = setup
    with pytest.raises(UserError, match="> 0"):
        sweep(g, [1.0, 0.0], 4, T, test, pad_id=None)
    with pytest.raises(UserError, match="no temperatures"):
        sweep(g, [], 4, T, test, pad_id=None)


# ---------------------------------------------------------------- `textgan sweep RUN_DIR` end to end
@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A tiny text run (MLE pre-training only) and a tiny oracle run, each trained in seconds."""
    tmp = tmp_path_factory.mktemp("sweep")
    text = tmp / "text"
    assert main(["train", str(text_recipe(tmp, steps=0)), "--out", str(text)]) == 0
    oracle_recipe = tmp / "oracle.yaml"
    oracle_recipe.write_text(json.dumps({
        "game": "text", "data": ORACLE, "model": TINY_MODEL, "loss": {"name": "rsgan"},
        "train": {"pretrain_steps": 10, "steps": 0, "batch_size": 8, "progress": False}}))
    assert main(["train", str(oracle_recipe), "--out", str(tmp / "oracle")]) == 0
    toy = tmp / "toy"
    toy.mkdir()
    save_recipe(recipe_from_dict({"game": "toy"}), toy / "config.yaml")
    return {"text": text, "oracle": tmp / "oracle", "toy": toy}


def test_sweep_of_a_text_run_writes_table_rows_and_plot(runs, capsys):
    capsys.readouterr()
    assert main(["sweep", str(runs["text"]), "--temperatures", "0.05, 1,2", "--n", "30", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [r["temperature"] for r in rows] == [0.05, 1.0, 2.0]
    assert set(rows[0]) == {"temperature", "nll_gen", "bleu_2", "bleu_5", "self_bleu_2", "self_bleu_5",
                            "distinct_2", "distinct_4"}
    assert rows[0]["nll_gen"] > rows[1]["nll_gen"]  # a sharpened model explains the test set worse
    out = runs["text"] / "sweep"
    assert json.loads((out / "sweep.json").read_text()) == rows
    assert (out / "sweep.txt").read_text().splitlines()[0].split() == list(rows[0])
    assert (out / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    # T = 1 is `textgan sample`'s model: the same generator and samples (same seed) as the sampling command
    run = load_run_generator(runs["text"], "last")
    torch.manual_seed(0)
    lines = run.decode(run.sample(30))
    tokenize = WordTokenizer(lowercase=True).tokenize
    expected = evaluate_text(lines, (runs["text"].parent / "test.txt").read_text().splitlines(),
                             tokenize, metrics=["bleu_2", "self_bleu_2", "distinct_2"])
    assert {k: rows[1][k] for k in expected} == pytest.approx(expected, rel=1e-12)
    assert sample_run(runs["text"], 30) == lines


def test_sweep_of_an_oracle_run_scores_nll_oracle_into_out(runs, tmp_path, capsys):
    assert main(["sweep", str(runs["oracle"]), "--temperatures", "0.5,1", "--out", str(tmp_path / "o")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["temperature", "nll_gen", "nll_oracle", "distinct_2", "distinct_4"]
    assert len(table) == 3
    assert {p.name for p in (tmp_path / "o").iterdir()} == {"sweep.txt", "sweep.json", "sweep.png"}
    assert not (runs["oracle"] / "sweep").exists()


def test_several_runs_are_drawn_together(runs, tmp_path, capsys, monkeypatch):
    """The comparison a frontier is: each run's own sweep in RUN/sweep, their curves together in --out."""
    other = tmp_path / "oracle_copy"
    shutil.copytree(runs["oracle"], other, ignore=shutil.ignore_patterns("sweep"))
    capsys.readouterr()
    assert main(["sweep", str(runs["oracle"]), str(other), "--temperatures", "0.5,1", "--n", "20",
                 "--out", str(tmp_path / "both"), "--json"]) == 0
    curves = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # same weights
    assert list(curves) == ["oracle", "oracle_copy"] and curves["oracle"] == curves["oracle_copy"]
    assert json.loads((tmp_path / "both" / "sweep.json").read_text()) == curves
    assert (tmp_path / "both" / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((other / "sweep" / "sweep.json").read_text()) == curves["oracle_copy"]
    assert "named twice" in error_line(capsys, "sweep", str(other), str(other), "--temperatures", "1")


@pytest.mark.parametrize("args,message", [
    (["MISSING", "--temperatures", "1"], "run folder not found"),
    (["text", "--temperatures", "1,0"], "must all be > 0"),
    (["text", "--temperatures", "1,warm"], "'warm' is not a number"),
    (["text", "--temperatures", " , "], "--temperatures is empty"),
    (["text", "--temperatures", "1", "--n", "1"], "--n must be at least 2"),
    (["oracle", "--temperatures", "1", "--checkpoint", "best"], "checkpoint not found"),
    (["toy", "--temperatures", "1"], "'toy' run; sampling sentences needs a text run"),
    (["text", "--temperatures", "1", "--out", "FILE"], "cannot write to"),
    (["text", "--temperatures", "1", "--metrics", "lm"], "unknown metric 'lm'"),
])
def test_bad_input_is_one_error_line(runs, tmp_path, capsys, args, message):
    (tmp_path / "FILE").write_text("")
    folders = {**runs, "MISSING": tmp_path / "missing", "FILE": tmp_path / "FILE"}
    args = [str(folders.get(a, a)) for a in args]
    assert message in error_line(capsys, "sweep", *args)
    assert not (runs["toy"] / "sweep").exists()


def test_a_run_whose_data_changed_is_refused(runs, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(runs["text"], run, ignore=shutil.ignore_patterns("sweep"))
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["data"]["train_files"] = [str(write_corpus(tmp_path / "other.txt", 300, 1,
                                                      [w.upper() for w in WORDS]))]
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    assert "is not what it was trained on" in error_line(capsys, "sweep", str(run), "--temperatures", "1")
    assert not (run / "sweep").exists()


def test_lm_scores_in_a_sweep_are_the_fixed_lms_nll(runs, tmp_path, capsys, monkeypatch):
    """--metrics lm_score,reverse_lm_score: the samples under an LM trained on the training rows, and
    the test rows under an LM trained on the samples, each equal to `textgan.metrics.lm_score`'s."""
    from textgan.metrics import lm_score as lms
    from textgan.text.data import load_text_data

    monkeypatch.setattr(lms, "MAX_STEPS", 20)
    monkeypatch.setattr(lms, "EVAL_EVERY", 10)
    capsys.readouterr()
    assert main(["sweep", str(runs["text"]), "--temperatures", "0.5,1", "--n", "30", "--metrics",
                 "lm_score,reverse_lm_score", "--out", str(tmp_path / "s"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    run = load_run_generator(runs["text"], "last")
    data = load_text_data(run.recipe.data)
    torch.manual_seed(0)
    samples = run.sample(30, temperature=1.0)
    lm = lms.train_language_model(data.train, data.vocab_size, data.pad_id)
    assert rows[1]["lm_score"] == pytest.approx(lms.mean_nll(lm, samples, data.pad_id), rel=1e-9)
    assert rows[1]["reverse_lm_score"] == pytest.approx(
        lms.reverse_lm_score(samples, data.test, data.vocab_size, data.pad_id), rel=1e-9)
