"""The GAN doctor: each detector on synthetic histories (fires at its threshold, stays quiet below it),
the --json contract, the CLI's errors, the HTML report, and live auto/warn modes on tiny toy runs."""

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from textgan.cli import main
from textgan.config import DoctorConfig
from textgan.core.checkpoint import load_checkpoint
from textgan.core.logging import MetricsLog, training_records
from textgan.core.trainer import Trainer
from textgan.doctor.detect import PITFALLS, Finding, cycle_strengths, diagnose_records
from textgan.doctor.live import LiveDoctor, attach_doctor
from textgan.doctor.remedies import Change, remedy, remedy_for
from textgan.games import build_game, load_recipe, recipe_from_dict
from textgan.storage import RECIPES_DIR as RECIPES

CFG = DoctorConfig()


def history(n: int = 120, every_eval: int = 10, seed: int = 0, **overrides) -> list[dict]:
    """A healthy run: noisy flat losses, balanced D, steady gradients, 25/25 modes at 90% quality.
    `overrides[key]` is a function (index) -> value replacing that key from index on."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        r = {"step": 10 * (i + 1), "d_loss": 1.3 + 0.02 * rng.standard_normal(),
             "g_loss": 0.8 + 0.02 * rng.standard_normal(), "d_real": 0.2, "d_fake": -0.2,
             "d_acc_real": 0.6, "d_acc_fake": 0.6, "grad_norm_g": 1.0 + 0.1 * rng.random(),
             "grad_norm_d": 1.0 + 0.1 * rng.random(), "rt": 0.2, "rt_train_slice": 0.2, "rt_heldout": 0.2,
             "d_train_slice": 0.2, "d_heldout": 0.2}
        if (i + 1) % every_eval == 0:
            r.update(modes_covered=25.0, high_quality_fraction=0.9 + 0.001 * i, mode_kl=0.02)
        for key, value in overrides.items():
            if key in r or not key.startswith(("modes", "high", "mode_", "distinct", "self_bleu")):
                new = value(i)
                if new is not None:
                    r[key] = new
        records.append(r)
    return records


def pitfalls(records: list[dict], cfg: DoctorConfig = CFG, config: dict | None = None) -> list[str]:
    return [f.pitfall for f in diagnose_records(records, cfg, config)]


def test_healthy_history_has_no_findings():
    assert pitfalls(history()) == []


def test_non_finite_is_critical_and_first():
    records = history()
    records[50].update(d_loss=None, grad_norm_d=None, non_finite=["d_loss", "grad_norm_d"])
    findings = diagnose_records(records, CFG)
    assert findings[0].pitfall == "non_finite" and findings[0].severity == "critical"
    assert findings[0].first_step == records[50]["step"] and "d_loss" in findings[0].evidence


@pytest.mark.parametrize(("factor", "fires"), [(60.0, True), (40.0, False)])
def test_exploding_gradient_fires_above_the_spike_factor(factor, fires):
    records = history()
    records[70]["grad_norm_d"] = factor * 1.05  # the trailing median is about 1.05
    assert ("exploding_gradient" in pitfalls(records)) is fires


@pytest.mark.parametrize(("spikes", "severity"), [([70], "warning"), ([70, 75], "warning"),
                                                  ([70, 75, 80], "critical"), ([20, 50, 80], "warning")])
def test_an_isolated_spike_is_a_warning_and_repeated_spikes_are_critical(spikes, severity):
    records = history()
    for i in spikes:
        records[i]["grad_norm_d"] = 200.0
    (finding,) = diagnose_records(records, CFG)
    assert finding.pitfall == "exploding_gradient" and finding.severity == severity


def test_auto_notes_an_isolated_spike_without_rolling_back(tmp_path):
    recipe = load_recipe(tiny(tmp_path, 4, 1e-3, "auto"))
    trainer = Trainer(recipe, build_game(recipe, torch.device("cpu")), tmp_path / "run", torch.device("cpu"))
    doctor = attach_doctor(trainer)
    records = history(40)
    records[35]["grad_norm_d"] = 200.0
    doctor.history = records
    doctor.take_snapshot()
    log = MetricsLog(tmp_path / "metrics.jsonl")
    assert doctor.check(log) is False
    log.close()
    written = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r.get("doctor_finding") for r in written] == ["exploding_gradient"]
    assert doctor.counts == {} and doctor.overrides == {}


def test_a_new_phase_is_not_a_gradient_spike():
    """MLE gradients are small beside the adversarial ones that follow them: a change of phase."""
    records = history(grad_norm_g=lambda i: 0.05 if i < 60 else 3.0)
    config = {"train": {"pretrain_steps": 600, "steps": 600}}  # records 0..59 are MLE steps 10..600
    assert "exploding_gradient" not in [f.pitfall for f in diagnose_records(records, CFG, config)]
    assert "exploding_gradient" in pitfalls(records)  # one phase: the same jump is a spike


def test_a_jump_from_vanished_gradients_is_not_an_explosion():
    """A saturated D's gradients fall from about 1 to 1e-5; a jump to 4e-3 is 400x their median but a
    fraction of a percent of their usual size (a RelGAN run on the oracle logged this)."""
    records = history(grad_norm_d=lambda i: 1.0 if i < 40 else 1e-5)
    records[70]["grad_norm_d"] = 4e-3
    assert "exploding_gradient" not in pitfalls(records)
    records[70]["grad_norm_d"] = 60.0  # far above the usual size: an explosion
    assert "exploding_gradient" in pitfalls(records)


def test_exploding_gradient_absolute_ceiling():
    records = history(grad_norm_g=lambda i: 2e5)
    assert "exploding_gradient" in pitfalls(records)


@pytest.mark.parametrize(("grad", "acc", "fires"),
                         [(0.01, 0.99, True), (0.1, 0.99, False), (0.01, 0.9, False)])
def test_vanishing_gradient_needs_a_saturated_d_and_a_tiny_g_gradient(grad, acc, fires):
    late = {"grad_norm_g": lambda i: grad if i >= 60 else None,
            "d_acc_real": lambda i: acc if i >= 60 else None,
            "d_acc_fake": lambda i: acc if i >= 60 else None}
    findings = diagnose_records(history(**late), CFG)
    found = [f for f in findings if f.pitfall == "vanishing_gradient"]
    assert bool(found) is fires
    if fires:
        assert found[0].first_step == 610 and "loss.name=ns" in found[0].remedy


@pytest.mark.parametrize(("modes", "quality", "fires"),
                         [(18.0, 0.9, True), (20.0, 0.9, False), (18.0, 0.2, False)])
def test_mode_collapse_on_modes_covered_counts_only_good_samples(modes, quality, fires):
    records = history()
    for r in records[60:]:
        if "modes_covered" in r:
            r.update(modes_covered=modes, high_quality_fraction=quality)
    assert ("mode_collapse" in pitfalls(records)) is fires


def test_mode_collapse_on_mode_kl_with_good_samples():
    records = history()
    for r in records[60:]:
        if "mode_kl" in r:
            r["mode_kl"] = 0.6
    assert pitfalls(records) == ["mode_collapse"]


@pytest.mark.parametrize(("key", "before", "after", "fires"), [
    ("distinct_4", 0.8, 0.55, True), ("distinct_4", 0.8, 0.65, False),
    ("self_bleu_4", 0.4, 0.6, True), ("self_bleu_4", 0.4, 0.5, False),
    ("domain_fid", 10.0, 13.0, True), ("domain_fid", 10.0, 12.0, False),
])
def test_mode_collapse_on_text_and_image_diversity(key, before, after, fires):
    records = history()
    for i, r in enumerate(records):
        if "modes_covered" in r:
            for k in ("modes_covered", "high_quality_fraction", "mode_kl"):
                del r[k]
            r[key] = before if i < 60 else after
    found = [f for f in diagnose_records(records, CFG) if f.pitfall == "mode_collapse"]
    assert bool(found) is fires
    if fires:
        assert key in found[0].evidence and found[0].severity == "critical"


def text_history(distinct: dict[int, list[float]], pretrain: int = 4) -> tuple[list[dict], dict]:
    """A healthy text run's records, one evaluation every 10 records with distinct-n from
    `distinct[n]`, its MLE phase ending at the `pretrain`-th evaluation."""
    records = history(n=10 * len(distinct[1]))
    for j, r in enumerate(r for r in records if "modes_covered" in r):
        for k in ("modes_covered", "high_quality_fraction", "mode_kl"):
            del r[k]
        r.update({f"distinct_{n}": values[j] for n, values in distinct.items()})
    return records, {"train": {"pretrain_steps": 100 * pretrain}}


def test_diversity_is_judged_against_the_end_of_pre_training_not_a_random_init():
    """A generator leaving its near-random init during MLE grows less diverse: that is learning."""
    records, config = text_history({1: [0.21, 0.15, 0.10, 0.08, 0.08, 0.079, 0.081],
                                    2: [0.98, 0.80, 0.60, 0.45, 0.45, 0.44, 0.45]})
    assert "mode_collapse" not in [f.pitfall for f in diagnose_records(records, CFG, config)]
    assert "mode_collapse" in pitfalls(records)  # judged against its best so far, it would be one


@pytest.mark.parametrize(("distinct", "fires"), [
    ({1: [0.08, 0.08, 0.04, 0.04], 2: [0.83, 0.83, 0.82, 0.83]}, False),  # one order only
    ({1: [0.08, 0.08, 0.04, 0.08], 2: [0.83, 0.83, 0.40, 0.83]}, False),  # one evaluation, recovered
    ({1: [0.08, 0.08, 0.04, 0.03], 2: [0.83, 0.83, 0.40, 0.30]}, True),   # two orders, persisting
])
def test_a_diversity_drop_must_persist_and_show_in_two_orders(distinct, fires):
    records, config = text_history(distinct, pretrain=2)
    found = [f for f in diagnose_records(records, CFG, config) if f.pitfall == "mode_collapse"]
    assert bool(found) is fires
    if fires:
        assert found[0].severity == "critical" and "end of pre-training (step 200)" in found[0].evidence


def test_a_run_started_from_another_generator_is_judged_against_its_step_0():
    records, _ = text_history({1: [0.08, 0.04, 0.03], 2: [0.83, 0.40, 0.30]})
    records.insert(0, {"step": 0, "distinct_1": 0.08, "distinct_2": 0.83})
    found = diagnose_records(records, CFG, {"train": {"pretrain_steps": 0, "init_from": "runs/mle"}})
    assert [f.pitfall for f in found] == ["mode_collapse"] and "(step 0)" in found[0].evidence


@pytest.mark.parametrize(("train", "held", "fires"), [(2.0, 0.5, True), (0.6, 0.3, False)])
def test_d_overfitting_on_the_train_heldout_gap(train, held, fires):
    late = {"d_train_slice": lambda i: train if i >= 50 else None,
            "d_heldout": lambda i: held if i >= 50 else None}
    assert ("d_overfitting" in pitfalls(history(**late))) is fires


def test_d_overfitting_on_r_t():
    late = {"rt_train_slice": lambda i: 0.9 if i >= 50 else None,
            "rt_heldout": lambda i: 0.2 if i >= 50 else None}
    assert pitfalls(history(**late)) == ["d_overfitting"]


def test_d_overfitting_ignores_exploded_logits():
    late = {"d_train_slice": lambda i: -1e4, "d_heldout": lambda i: -2e4}
    assert "d_overfitting" not in pitfalls(history(**late))


# SentiGAN's schedule: 210 records of MLE, 25 of D pre-training, then an adversarial phase of 10
SHORT_PHASE = {"train": {"pretrain_steps": 2100, "pretrain_d_steps": 250, "steps": 100, "log_every": 10}}


@pytest.mark.parametrize(("overfit_records", "fires"), [(10, True), (4, True), (3, False), (0, False)])
def test_a_phase_shorter_than_the_window_is_judged_on_its_later_half(overfit_records, fires):
    records = history(n=245)
    for r in records[245 - overfit_records:]:
        r.update(d_train_slice=3.0, d_heldout=-7.0, rt_train_slice=1.0, rt_heldout=-1.0)
    found = diagnose_records(records, CFG, SHORT_PHASE)
    assert ("d_overfitting" in [f.pitfall for f in found]) is fires
    if fires:
        finding = next(f for f in found if f.pitfall == "d_overfitting")
        assert finding.last_step == 2450 and "steps 2410-2450" in finding.evidence


def test_a_long_phase_just_begun_is_not_judged_on_its_first_records():
    records = history(n=245)
    for r in records[-10:]:
        r.update(d_train_slice=3.0, d_heldout=-7.0, rt_train_slice=1.0, rt_heldout=-1.0)
    planned_long = {"train": {**SHORT_PHASE["train"], "steps": 2000}}
    assert "d_overfitting" not in pitfalls(records, config=planned_long)
    assert "d_overfitting" in pitfalls(records, config=SHORT_PHASE)


@pytest.mark.parametrize(("improving", "fires"), [(False, True), (True, False)])
def test_g_underfitting_needs_a_flat_metric(improving, fires):
    quality = (lambda i: 0.1 + 0.01 * i) if improving else (lambda i: 0.1)
    records = history(d_acc_fake=lambda i: 0.97, g_loss=lambda i: 2.0 + 0.001 * i)
    for i, r in enumerate(records):
        if "high_quality_fraction" in r:
            r["high_quality_fraction"] = quality(i)
    assert ("g_underfitting" in pitfalls(records)) is fires


def test_oscillation_detects_cycles_and_not_noise():
    cyc = history(g_loss=lambda i: 0.8 + 0.3 * math.sin(2 * math.pi * i / 12),
                  d_loss=lambda i: 1.3 - 0.3 * math.sin(2 * math.pi * i / 12))
    found = [f for f in diagnose_records(cyc, CFG) if f.pitfall == "oscillation"]
    assert found and "120 steps" in found[0].evidence  # period 12 records x 10 steps
    for seed in range(5):
        assert "oscillation" not in pitfalls(history(seed=seed))
    strength, period = cycle_strengths(np.sin(np.arange(60) * 2 * np.pi / 15)[None, :], CFG.osc_acf)
    assert period[0] == 15 and strength[0] > 0.5


def test_thresholds_come_from_the_config():
    records = history()
    records[70]["grad_norm_d"] = 30.0
    assert "exploding_gradient" not in pitfalls(records)
    assert "exploding_gradient" in pitfalls(records, DoctorConfig(grad_spike=20.0))


def test_findings_are_sorted_most_severe_first():
    records = history(d_train_slice=lambda i: 2.0, d_heldout=lambda i: 0.5)
    records[80].update(g_loss=None, non_finite=["g_loss"])
    findings = diagnose_records(records, CFG)
    ranks = [("critical", "warning", "info").index(f.severity) for f in findings]
    assert ranks == sorted(ranks) and findings[0].pitfall == "non_finite"


def test_rollback_timeline_and_remedied_pitfalls():
    records = history(30)
    action = {"step": 300, "doctor_action": "rollback", "pitfall": "non_finite", "severity": "critical",
              "evidence": "non-finite d_loss", "detail": "rolled back to step 200"}
    replay = [dict(r) for r in records[19:]]  # steps 200.. again after the rollback
    timeline = training_records([*records, action, *replay])
    assert [r["step"] for r in timeline] == [r["step"] for r in records]
    findings = diagnose_records([*records, action, *replay], CFG)
    assert [f.pitfall for f in findings] == ["non_finite"] and "rolled back" in findings[0].evidence


def test_remedies_are_concrete_recipe_changes():
    config = {"game": "toy", "loss": {"name": "vanilla"}, "optim_g": {"lr": 2e-4},
              "optim_d": {"lr": 1e-3, "clip_norm": 0.0}, "model": {"pack": 1, "d_dropout": 0.0},
              "train": {"n_critic": 5}}
    for pitfall in PITFALLS:
        text = remedy(pitfall, config)
        assert text.startswith("--set ") and all(re.fullmatch(r"[\w.]+=\S+", c)
                                                 for c in text.split("--set ")[1:]
                                                 for c in [c.strip()]), text
    assert "optim_d.lr=0.0001" in remedy("non_finite", config)
    assert "model.pack=4" in remedy("mode_collapse", config)
    text = {**config, "game": "text"}
    assert (remedy("mode_collapse", {**text, "model": {"signal": "gumbel", "beta_max": 1.0}})
            == "--set model.beta_max=100")
    assert "train.n_critic=2" in remedy("g_underfitting", config)
    # D built without dropout layers: more dropout is for the next run, and instance noise applies now
    assert remedy("d_overfitting", config) == "--set model.d_dropout=0.1 --set loss.instance_noise=0.1"
    assert remedy("d_overfitting", {**config, "model": {"d_dropout": 0.2}}) == "--set model.d_dropout=0.3"
    no_dropout = {**config, "model": {"pack": 1}}
    assert remedy("d_overfitting", no_dropout) == "--set loss.instance_noise=0.1"
    assert remedy("d_overfitting", {**text, "model": {"signal": "pg"}}) == "--set optim_d.weight_decay=0.0001"


def test_a_rung_that_needs_a_new_run_is_advised_beside_the_first_live_one():
    config = {"game": "toy", "loss": {"name": "ns"}, "optim_g": {"lr": 2e-4}, "optim_d": {"lr": 1e-3},
              "model": {"pack": 1}}
    collapse = remedy_for("mode_collapse", config)
    assert collapse.action == "apply" and [(c.key, c.restart) for c in collapse.changes] == [
        ("model.pack", True), ("loss.r1_weight", False)]
    assert remedy_for("mode_collapse", {**config, "game": "text", "model": {"signal": "pg"}}).advice() == (
        "--set optim_g.lr=0.0001 --set optim_d.lr=0.0005")
    assert remedy_for("mode_collapse", {**config, "game": "text",
                                        "model": {"signal": "gumbel", "beta_max": 1000.0},
                                        }).changes[0].new == 10_000.0
    underfit = remedy_for("g_underfitting", {**config, "model": {"g_hidden": 64}})
    assert underfit.action == "stop" and all(c.restart for c in underfit.changes)


@pytest.mark.parametrize("pitfall", PITFALLS)
@pytest.mark.parametrize("game,config", [
    ("toy", {"loss": {"name": "vanilla"}, "model": {"pack": 1, "d_dropout": 0.2}, "train": {"n_critic": 2}}),
    ("toy", {"loss": {"name": "wgan-gp"}, "model": {"pack": 2, "d_dropout": 0.0},
             "train": {"ema_decay": 0.99}}),
    ("text", {"loss": {"name": "rsgan"}, "model": {"signal": "gumbel", "beta_max": 10.0, "d_dropout": 0.25}}),
    ("text", {"loss": {"name": "ns"}, "model": {"signal": "pg", "d_dropout": 0.5}}),
])
def test_the_live_doctor_carries_out_exactly_the_printed_advice(tmp_path, pitfall, game, config):
    """One remedy table: what `textgan doctor` prints for a pitfall is what the live doctor does."""
    recipe = tiny_recipe(tmp_path, game, config)
    trainer = Trainer(recipe, build_game(recipe, torch.device("cpu")), tmp_path / "run", torch.device("cpu"))
    doctor = attach_doctor(trainer)
    doctor.take_snapshot()
    done = remedy_for(pitfall, recipe.to_dict())  # what `textgan doctor` prints for this recipe
    printed = remedy(pitfall, recipe.to_dict())
    log = MetricsLog(tmp_path / "metrics.jsonl")
    doctor.carry_out(Finding(pitfall, "critical", 1, 1, "test", printed), log)
    log.close()
    (action,) = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert action["doctor_action"] == done.action
    assert " ".join(f"--set {Change(k, old, new, '').as_set()}"
                    for k, (old, new) in action["changes"].items()) == printed
    after = recipe.to_dict()
    for change in done.changes:
        section, name = change.key.split(".")
        applied = not change.restart and done.action != "stop"
        assert (after[section][name] == change.new) == applied or change.old == change.new, change


# ----------------------------------------------------------------------------- CLI and report
def write_run(tmp_path: Path, records: list[dict], torn: bool = True) -> Path:
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    text = "".join(json.dumps(r) + "\n" for r in records)
    (run / "metrics.jsonl").write_text(text + ('{"step": 99999, "d_lo' if torn else ""))
    (run / "config.yaml").write_text(yaml.safe_dump({"loss": {"name": "ns"}, "optim_g": {"lr": 1e-3},
                                                     "optim_d": {"lr": 1e-3}}))
    (run / "samples" / "step_0000100.txt").write_text("a <sample> & one\nanother\n")
    return run


def test_doctor_json_schema(tmp_path, capsys):
    records = history(d_train_slice=lambda i: 2.0, d_heldout=lambda i: 0.5)
    records[80].update(g_loss=None, non_finite=["g_loss"])
    assert main(["doctor", str(write_run(tmp_path, records)), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"healthy", "findings"} and out["healthy"] is False
    for f in out["findings"]:
        assert set(f) == {"pitfall", "severity", "first_step", "last_step", "evidence", "remedy"}
        assert f["pitfall"] in PITFALLS and f["severity"] in ("info", "warning", "critical")
        assert isinstance(f["first_step"], int) and f["first_step"] <= f["last_step"]
    assert [f["pitfall"] for f in out["findings"]] == ["non_finite", "d_overfitting"]


def test_doctor_text_says_healthy(tmp_path, capsys):
    assert main(["doctor", str(write_run(tmp_path, history()))]) == 0
    assert "healthy" in capsys.readouterr().out


@pytest.mark.parametrize("case", ["missing", "no_metrics", "empty"])
def test_doctor_and_report_bad_input(tmp_path, capsys, case):
    run = tmp_path / "run"
    if case != "missing":
        run.mkdir()
    if case == "empty":
        (run / "metrics.jsonl").write_text("")
    for command in ("doctor", "report"):
        assert main([command, str(run)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ")
    assert not (run / "report.html").exists()


def test_report_is_one_self_contained_page(tmp_path):
    records = history(d_train_slice=lambda i: 2.0, d_heldout=lambda i: 0.5)
    records.append({"step": 600, "doctor_action": "dropout", "pitfall": "d_overfitting",
                    "severity": "warning", "evidence": "gap", "detail": "D dropout 0 -> 0.1"})
    run = write_run(tmp_path, records)
    out = tmp_path / "page.html"
    assert main(["report", str(run), "--out", str(out)]) == 0
    page = out.read_text()
    links = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page)
    assert links and all(link.startswith("data:image/png;base64,") for link in links)
    assert ("d_overfitting" in page and "D dropout 0 -&gt; 0.1" in page
            and "a &lt;sample&gt; &amp; one" in page)
    assert "<script" not in page and "url(" not in page
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".page")] == []


# ----------------------------------------------------------------------------- live doctor
TINY = """\
game: toy
seed: 0
data: {mixture: grid, n_train: 2000, n_heldout: 200, n_eval: 300}
model: {z_dim: 2, g_hidden: 32, g_layers: 2, d_hidden: 32, d_layers: 2}
train: {steps: STEPS, batch_size: 32, log_every: 2, checkpoint_every: 10, progress: false}
loss: {name: ns}
optim_g: {name: OPT, lr: LR}
optim_d: {name: OPT, lr: LR}
eval: {every: 40}
doctor: {mode: MODE, every: 2, window: 10}
"""


def tiny_recipe(tmp_path: Path, game: str, sections: dict):
    """A tiny toy or text (random oracle) recipe in auto mode, its sections updated from `sections`."""
    if game == "toy":
        raw = yaml.safe_load(TINY.replace("STEPS", "4").replace("LR", "0.001").replace("MODE", "auto")
                             .replace("OPT", "adam"))
    else:
        raw = {"game": "text", "data": {"source": "oracle", "oracle": "random", "oracle_vocab": 30,
                                        "seq_len": 6, "n_train": 64, "n_heldout": 32, "n_eval": 40},
               "model": {"emb_dim": 8, "hidden_dim": 8, "d_emb_dim": 8, "num_rep": 4,
                         "d_filter_sizes": [2, 3], "d_num_filters": [8, 8]},
               "train": {"batch_size": 8, "steps": 4, "pretrain_steps": 2}, "doctor": {"mode": "auto"}}
    for section, values in sections.items():
        raw[section] = {**raw.get(section, {}), **values}
    return recipe_from_dict(raw)


def tiny(tmp_path: Path, steps: int, lr: float, mode: str, opt: str = "sgd") -> Path:
    path = tmp_path / f"tiny_{mode}.yaml"
    path.write_text(TINY.replace("STEPS", str(steps)).replace("LR", str(lr)).replace("MODE", mode)
                    .replace("OPT", opt))
    return path


def test_auto_rolls_back_on_nan_and_never_saves_a_non_finite_checkpoint(tmp_path, capsys):
    out = tmp_path / "auto"
    assert main(["train", str(tiny(tmp_path, 40, 10.0, "auto")), "--out", str(out)]) == 0
    assert "doctor action" in capsys.readouterr().err
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    actions = [r for r in records if "doctor_action" in r]
    assert any(r["doctor_action"] == "rollback" for r in actions)
    assert all({"step", "pitfall", "detail", "changes", "evidence", "severity"} <= set(r) for r in actions)
    for ckpt in (out / "checkpoints").glob("*.pt"):
        state = load_checkpoint(ckpt)
        for part in ("generator", "discriminator"):
            assert all(torch.isfinite(t).all() for t in state[part].values() if t.is_floating_point())
        assert state["doctor"]["counts"] and state["doctor"]["overrides"]["optim_g.lr"] < 10.0
    assert max(r["step"] for r in training_records(records)) == 40


def test_broken_nan_recipe_stops_and_the_doctor_names_it_first(tmp_path, capsys):
    out = tmp_path / "off"
    recipe = RECIPES / "broken" / "non_finite_toy_grid.yaml"
    assert main(["train", str(recipe), "--out", str(out), "--set", "train.steps=40", "--set",
                 "train.progress=false"]) == 2
    assert "diverged" in capsys.readouterr().err
    assert main(["doctor", str(out), "--json"]) == 0
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert findings[0]["pitfall"] == "non_finite"


def test_warn_mode_logs_findings_and_changes_nothing(tmp_path, capsys):
    recipe = tiny(tmp_path, 30, 10.0, "warn", opt="adam")  # Adam at lr 10: finite gradient spikes
    out = tmp_path / "warn"
    assert main(["train", str(recipe), "--out", str(out)]) == 0
    assert "doctor finding" in capsys.readouterr().err
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert not any("doctor_action" in r for r in records)
    assert any("doctor_finding" in r for r in records)


def test_cycling_losses_come_before_the_collapse_they_cause():
    records = history(g_loss=lambda i: 0.8 + 0.3 * math.sin(2 * math.pi * i / 12),
                      d_loss=lambda i: 1.3 - 0.3 * math.sin(2 * math.pi * i / 12))
    for r in records[60:]:
        if "mode_kl" in r:
            r["mode_kl"] = 0.6
    findings = diagnose_records(records, CFG)
    assert [f.pitfall for f in findings] == ["oscillation", "mode_collapse"]
    assert findings[1].severity == "warning" and "hopping" in findings[1].evidence


def carry_out(doctor: LiveDoctor, pitfall: str, tmp_path: Path) -> dict:
    """The doctor's remedy for `pitfall`, carried out now; its logged action record."""
    log = MetricsLog(tmp_path / "actions.jsonl")
    doctor.carry_out(Finding(pitfall, "warning", 1, 1, "test", ""), log)
    log.close()
    return json.loads((tmp_path / "actions.jsonl").read_text().splitlines()[-1])


def test_collapse_remedy_adds_r1_and_makes_a_saturating_loss_non_saturating(tmp_path):
    recipe = load_recipe(tiny(tmp_path, 4, 1e-3, "auto"), ["loss.name=vanilla"])
    trainer = Trainer(recipe, build_game(recipe, torch.device("cpu")), tmp_path / "run", torch.device("cpu"))
    doctor = attach_doctor(trainer)
    action = carry_out(doctor, "mode_collapse", tmp_path)
    assert action["doctor_action"] == "apply"
    assert action["changes"] == {"model.pack": [1, 4], "loss.r1_weight": [0.0, 0.1],
                                 "loss.name": ["vanilla", "ns"]}
    assert ("loss.name vanilla -> ns" in action["detail"]
            and "model.pack 1 -> 4 (next run)" in action["detail"])
    assert trainer.recipe.loss.r1_weight == 0.1 and trainer.players.objective.loss.name == "ns"
    assert trainer.recipe.model.pack == 1  # the next run's change is advice, not applied
    again = carry_out(doctor, "mode_collapse", tmp_path)  # the loss is already non-saturating: R1 only
    assert again["changes"] == {"model.pack": [1, 4], "loss.r1_weight": [0.1, 1.0]}


def test_overfitting_remedy_without_dropout_adds_instance_noise_then_weight_decay(tmp_path):
    recipe = load_recipe(tiny(tmp_path, 4, 1e-3, "auto"), ["optim_d.name=adam"])
    trainer = Trainer(recipe, build_game(recipe, torch.device("cpu")), tmp_path / "run", torch.device("cpu"))
    doctor = attach_doctor(trainer)
    steps = [carry_out(doctor, "d_overfitting", tmp_path)["changes"] for _ in range(4)]
    # D has no dropout layers (model.d_dropout 0): dropout is advice for the next run, noise applies now
    assert [list(s) for s in steps] == [["model.d_dropout", "loss.instance_noise"]] * 3 + [
        ["model.d_dropout", "optim_d.weight_decay"]]
    assert steps[0]["loss.instance_noise"] == [0.0, 0.1] and trainer.recipe.loss.instance_noise == 0.3
    assert trainer.recipe.model.d_dropout == 0.0
    assert trainer.recipe.loss.instance_noise_anneal_steps == 0  # held, not annealed away
    assert all(group["weight_decay"] == 1e-4 for group in trainer.players.d.optimizer.param_groups)
    assert doctor.overrides == {"loss.instance_noise": 0.3, "optim_d.weight_decay": 1e-4}


def test_a_learning_rate_change_keeps_the_point_of_the_schedule_and_survives_a_rollback(tmp_path):
    recipe = load_recipe(tiny(tmp_path, 4, 1e-3, "auto"), ["optim_g.schedule=linear"])
    trainer = Trainer(recipe, build_game(recipe, torch.device("cpu")), tmp_path / "run", torch.device("cpu"))
    doctor = attach_doctor(trainer)
    doctor.take_snapshot()
    g = trainer.players.g
    g.optimizer.step()
    g.schedule.step()
    before = g.lr
    carry_out(doctor, "non_finite", tmp_path)  # rolls back to the snapshot, then x lr_factor
    assert g.schedule.base_lrs == [pytest.approx(1e-4)] and g.lr == pytest.approx(1e-4)
    assert before < 1e-3 and trainer.recipe.optim_g.lr == pytest.approx(1e-4)
    assert trainer.recipe.optim_g.clip_norm == 10.0


@pytest.mark.parametrize("content,message", [
    (bytes(range(256)) * 4, "not UTF-8 text"),
    (b'"str"\n[1, 2, 3]\n', "line 1: not a metrics record"),
    (b'{"step": 1}\n{"step": 2, "d_lo\n{"step": 3}\n', "line 2: not JSON"),
])
def test_damaged_metrics_files_are_one_error_line(tmp_path, capsys, content, message):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_bytes(content)
    for command in (["doctor", str(run)], ["report", str(run), "--out", str(tmp_path / "r.html")]):
        assert main(command) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_a_run_whose_model_the_doctor_changed_resumes_with_the_change(tmp_path):
    sections = {"model": {"signal": "pg", "d_dropout": 0.25}}
    recipe = tiny_recipe(tmp_path, "text", sections)
    trainer = Trainer(recipe, build_game(recipe, torch.device("cpu")), tmp_path / "run", torch.device("cpu"))
    carry_out(attach_doctor(trainer), "d_overfitting", tmp_path)
    assert trainer.recipe.model.d_dropout == 0.35
    trainer.checkpoint_dir.mkdir(parents=True)
    trainer.save("last.pt")

    fresh = tiny_recipe(tmp_path, "text", sections)  # the recipe file, as the user runs it again
    resumed = Trainer(fresh, build_game(fresh, torch.device("cpu")), tmp_path / "run", torch.device("cpu"))
    attach_doctor(resumed)
    resumed.resume()
    assert resumed.recipe.model.d_dropout == 0.35
    drops = [m.p for m in resumed.game.discriminator.modules() if isinstance(m, torch.nn.Dropout)]
    assert drops and all(p == 0.35 for p in drops)


def test_a_divergence_before_any_good_state_only_lowers_the_learning_rates(tmp_path):
    recipe = load_recipe(tiny(tmp_path, 4, 1e-3, "auto"))
    trainer = Trainer(recipe, build_game(recipe, torch.device("cpu")), tmp_path / "run", torch.device("cpu"))
    action = carry_out(attach_doctor(trainer), "exploding_gradient", tmp_path)  # no snapshot taken
    assert action["doctor_action"] == "apply" and "rollback_to" not in action
    assert trainer.players.g.lr == pytest.approx(1e-4) and trainer.players.d.lr == pytest.approx(1e-4)
