"""Category-conditional generation (SentiGAN, CatGAN): labelled corpora and their encodings, the
block layout, samples of class c scored against class c, the (k+1)-class D loss and SentiGAN's
penalty by hand, CatGAN's category-wise D and its evolutionary selection, `textgan sample
--category`, resume after SIGKILL, and an end-to-end run read by `textgan doctor`."""

import json
import math
import random
from pathlib import Path

import pytest
import torch
from runs import assert_same_weights, kill_after_first_checkpoint, run_cli
from torch.nn import functional as F

from textgan.cli import main
from textgan.config import LossConfig, OptimConfig
from textgan.core.ema import EMA
from textgan.core.objective import Objective
from textgan.core.steps import Optimised, Players, g_step
from textgan.errors import UserError
from textgan.games import recipe_from_dict
from textgan.text import sentigan
from textgan.text.catgan import CategoryLSTMGenerator, CategoryRMCGenerator, own_heads
from textgan.text.conditional import ConditionalGenerator, StratifiedBatches, block_labels
from textgan.text.data import DataConfig, load_text_data
from textgan.text.game import build_game
from textgan.text.tokenize import EOS

torch.set_num_threads(1)

POS, NEG, COMMON = ["good", "great", "fine", "nice"], ["bad", "awful", "poor", "dull"], ["the", "film", "is"]
TINY = {"emb_dim": 8, "hidden_dim": 8, "d_emb_dim": 8, "num_rep": 4, "d_filter_sizes": [2, 3],
        "d_num_filters": [8, 8], "rollouts": 2, "evo_eval_rows": 4}


def write_category(path: Path, words: list[str], n: int, seed: int, encoding: str = "utf-8",
                   extra: str = "") -> Path:
    rng = random.Random(seed)
    lines = [" ".join(rng.choice(COMMON) for _ in range(2)) + " "
             + " ".join(rng.choice(words) for _ in range(rng.randint(1, 3))) + extra for _ in range(n)]
    path.write_bytes("".join(line + "\n" for line in lines).encode(encoding))
    return path


def labelled(tmp_path: Path) -> dict[str, str]:
    return {"pos": str(write_category(tmp_path / "pos.txt", POS, 60, 1)),
            "neg": str(write_category(tmp_path / "neg.txt", NEG, 60, 2))}


def recipe_dict(tmp_path: Path, family: str, **train) -> dict:
    model = {**TINY, "family": family}
    if family == "sentigan":
        model["discriminator"] = "seqgan"
    return {"game": "text", "seed": 3,
            "data": {"source": "files", "label_files": labelled(tmp_path), "tokenizer": "whitespace",
                     "max_len": 6, "n_heldout": 12, "n_eval": 20, "bleu_samples": 6, "classifier_steps": 30,
                     "cache_dir": str(tmp_path / "cache")},
            "model": model,
            "train": {"batch_size": 8, "pretrain_steps": 4, "pretrain_d_steps": 2, "steps": 4,
                      "log_every": 1, "checkpoint_every": 3, "ema_decay": 0.9, "progress": False, **train},
            "loss": {"name": "vanilla" if family == "sentigan" else "rsgan"},
            "optim_pretrain": {"lr": 1.0e-2},
            "eval": {"every": 6}}


def game_of(tmp_path: Path, family: str):
    return build_game(recipe_from_dict(recipe_dict(tmp_path, family)), torch.device("cpu"))


# ---------------------------------------------------------------------- labelled corpora
def test_labels_come_from_one_file_per_category_in_the_named_encoding(tmp_path):
    pos = write_category(tmp_path / "p.txt", POS, 30, 1, "latin-1", " café")
    neg = write_category(tmp_path / "n.txt", NEG, 20, 2, "latin-1")
    cfg = DataConfig(source="files", label_files={"pos": str(pos), "neg": [str(neg)]}, encoding="latin-1",
                     tokenizer="whitespace", n_heldout=5)
    cfg.validate()
    data = load_text_data(cfg, labelled=True)
    assert data.categories == ("pos", "neg")
    assert data.train_labels.tolist() == [0] * 25 + [1] * 15
    assert data.test_labels.tolist() == [0] * 5 + [1] * 5
    for rows, labels in ((data.train, data.train_labels), (data.test, data.test_labels)):
        for line, label in zip(data.decode(rows), labels.tolist()):
            words = set(line.split())
            assert words & set(POS if label == 0 else NEG) and not words & set(NEG if label == 0 else POS)
            assert ("café" in words) == (label == 0)  # é read as Latin-1, one token
    with pytest.raises(UserError, match=r"p.txt: line 1 is not valid UTF-8 \(byte 0xe9.*data.encoding"):
        load_text_data(DataConfig(source="files", label_files={"pos": str(pos), "neg": str(neg)}),
                       labelled=True)
    with pytest.raises(UserError, match="unknown text encoding 'klingon'"):
        DataConfig(source="files", label_files={"pos": str(pos), "neg": str(neg)},
                   encoding="klingon").validate()


def test_labels_come_from_a_datasets_label_column(tmp_path):
    rows = [("the film is good", "pos"), ("bad and dull", "neg")] * 8 + [("fine great", "pos")] * 2
    csv = tmp_path / "reviews.csv"
    csv.write_text("sentence,polarity\n" + "".join(f"{t},{lab}\n" for t, lab in rows))
    cfg = DataConfig(source="hf", dataset=str(csv), test_split="", column="sentence", label_column="polarity",
                     tokenizer="whitespace", n_heldout=2)
    data = load_text_data(cfg, labelled=True)
    assert data.categories == ("neg", "pos")  # sorted values name the categories
    assert data.train_labels.bincount().tolist() == [6, 8] and data.test_labels.bincount().tolist() == [2, 2]
    assert all(("bad" in line) == (label == 0) for line, label in zip(data.decode(data.train),
                                                                         data.train_labels.tolist()))
    with pytest.raises(UserError, match="no label column 'stars'"):
        load_text_data(DataConfig(source="hf", dataset=str(csv), test_split="", column="sentence",
                                  label_column="stars"), labelled=True)


@pytest.mark.parametrize("spec,message", [
    ({"pos": "P"}, "at least two categories"),
    ({"pos": "P", "neg stuff": "N"}, "letters, digits"),
    ({"pos": "P", "neg": 3}, "a file or a list of files"),
])
def test_bad_label_files_are_refused(tmp_path, spec, message):
    files = {"P": str(write_category(tmp_path / "p.txt", POS, 5, 1)),
             "N": str(write_category(tmp_path / "n.txt", NEG, 5, 2))}
    spec = {k: files.get(v, v) for k, v in spec.items()}
    with pytest.raises(UserError, match=message):
        load_text_data(DataConfig(source="files", label_files=spec, n_heldout=1), labelled=True)


def test_label_files_without_a_conditional_family_are_refused(tmp_path):
    raw = recipe_dict(tmp_path, "sentigan")
    raw["model"] = {k: v for k, v in raw["model"].items() if k != "family"}
    with pytest.raises(UserError, match="category-conditional family"):
        build_game(recipe_from_dict(raw), torch.device("cpu"))


def test_batches_hold_every_category_in_equal_blocks_and_resume():
    rows = torch.arange(30)[:, None].expand(-1, 3)
    labels = torch.tensor([0] * 10 + [1] * 20)
    batches = StratifiedBatches(rows, labels, 2, 6, seed=1)
    first = [batches.next() for _ in range(5)]
    for b in first:
        assert (b[:3, 0] < 10).all() and (b[3:, 0] >= 10).all()
    state = batches.state_dict()
    more = [batches.next() for _ in range(4)]
    again = StratifiedBatches(rows, labels, 2, 6, seed=1)
    again.load_state_dict(state)
    assert all(torch.equal(a, again.next()) for a in more)
    assert block_labels(6, 2).tolist() == [0, 0, 0, 1, 1, 1]
    with pytest.raises(UserError, match="multiple of the 2 categories"):
        StratifiedBatches(rows, labels, 2, 5, seed=1)


# ---------------------------------------------------------------------- class c against class c
class Replay(ConditionalGenerator):
    """Category c replays the test rows of category `source[c]` (log-probabilities all 0)."""

    def __init__(self, rows_by_category: list[torch.Tensor], source: list[int]) -> None:
        super().__init__()
        self.n_categories, self.rows, self.source = len(source), rows_by_category, source

    def category(self, c):
        rows = self.rows[self.source[c]]

        class One:
            def sample(self, n, seq_len, *args):
                return rows[torch.arange(n) % len(rows)]

            def log_probs(self, tokens):
                return torch.zeros(tokens.shape)

        return One()


def test_the_classifiers_accuracy_on_real_sentences_is_also_given_per_category(tmp_path):
    from textgan.text.classifier import predict

    game = game_of(tmp_path, "sentigan")
    labels, predicted = game.data.train_labels, predict(game.classifier, game.data.train)
    by_category = game.classifier_accuracy_by_category
    assert list(by_category) == list(game.data.categories)
    for c, name in enumerate(game.data.categories):
        assert by_category[name] == pytest.approx(float((predicted[labels == c] == c).float().mean()))
    # weighted by the categories' sizes, they make the overall accuracy (computed apart, when trained)
    sizes = [int((labels == c).sum()) for c in range(game.k)]
    overall = sum(a * n for a, n in zip(by_category.values(), sizes)) / sum(sizes)
    assert overall == pytest.approx(game.classifier_accuracy)


def test_samples_of_class_c_are_scored_against_class_c(tmp_path):
    game = game_of(tmp_path, "sentigan")
    assert game.classifier_accuracy > 0.9  # the categories differ by their words: an easy classifier
    by_class = [game.data.test[game.data.test_labels == c] for c in range(2)]
    right = game.evaluate(Replay(by_class, [0, 1]), 0, tmp_path)
    swapped = game.evaluate(Replay(by_class, [1, 0]), 1, tmp_path)
    for name in ("pos", "neg"):
        assert right[f"bleu_2_{name}"] == pytest.approx(1.0) and swapped[f"bleu_2_{name}"] < 0.9
        assert right[f"class_accuracy_{name}"] == 1.0 and swapped[f"class_accuracy_{name}"] == 0.0
    # the replayed rows are the classifier's own training rows
    assert right["class_accuracy"] == 1.0 and right["classifier_accuracy"] == game.classifier_accuracy
    for name, a in game.classifier_accuracy_by_category.items():
        assert right[f"classifier_accuracy_{name}"] == a
    lines = (tmp_path / "step_0000000.txt").read_text().splitlines()
    for line in lines:
        name, sentence = line.split("\t")
        assert set(sentence.split()) & set(POS if name == "pos" else NEG)
    assert set(right) == game.metric_names()


# ---------------------------------------------------------------------- SentiGAN
def test_the_k_plus_1_class_d_loss_equals_a_hand_computation(tmp_path):
    for seed in range(3):
        gen = torch.Generator().manual_seed(seed)
        z_real, z_fake = torch.randn(6, 3, generator=gen), torch.randn(6, 3, generator=gen)
        labels = torch.tensor([0, 0, 0, 1, 1, 1])
        rows = [(z, int(t)) for z, t in zip(torch.cat([z_real, z_fake]), [*(labels + 1).tolist()] + [0] * 6)]
        hand = sum(-(z[t] - math.log(sum(math.exp(v) for v in z.tolist()))) for z, t in rows) / 12
        assert sentigan.sentigan_d_loss(z_real, labels, z_fake).item() == pytest.approx(float(hand), rel=1e-5)
    game = game_of(tmp_path, "sentigan")
    real, fake = game.real_batch(), game.fake_batch(8)
    game.discriminator.eval()  # no dropout: the hand computation sees the same logits
    loss, d_real, d_fake, stats = game.discriminator_loss(Objective(LossConfig("vanilla")), real, fake)
    z_real, z_fake = game.discriminator(real), game.discriminator(fake)
    targets = torch.tensor([1] * 4 + [2] * 4 + [0] * 8)
    hand = F.cross_entropy(torch.cat([z_real, z_fake]), targets)
    assert loss.item() == pytest.approx(hand.item(), rel=1e-5)
    assert torch.allclose(d_real, torch.logsumexp(z_real[:, 1:], 1) - z_real[:, 0])
    assert torch.allclose(d_fake, torch.logsumexp(z_fake[:, 1:], 1) - z_fake[:, 0])
    assert 0 <= stats["d_class_acc"] <= 1


def test_generator_c_is_rewarded_by_d_s_probability_of_class_c(tmp_path, monkeypatch):
    """A D that answers the same logits (0, 1, -1) for every sentence: generator c's rewards are the
    softmax's class-(c+1) probability at every position, and its loss the probability of each of its
    tokens times 1 - that reward."""
    game = game_of(tmp_path, "sentigan")
    with torch.no_grad():
        for p in game.discriminator.parameters():
            p.zero_()
        game.discriminator.out.bias.copy_(torch.tensor([0.0, 1.0, -1.0]))
    probs = torch.softmax(torch.tensor([0.0, 1.0, -1.0]), 0)
    seen, seen_samples = [], []
    real_rollouts, real_penalty = sentigan.mc_rollout_rewards, sentigan.penalty_loss

    def rollouts(g, samples, *args):
        samples[0, 1] = EOS  # one sentence ends early: its padding is no token
        seen_samples.append(samples)
        return seen.append(real_rollouts(g, samples, *args)) or seen[-1]

    monkeypatch.setattr(sentigan, "mc_rollout_rewards", rollouts)
    losses = []
    monkeypatch.setattr(sentigan, "penalty_loss",
                        lambda lp, r, m: losses.append((lp, r, m)) or real_penalty(lp, r, m))
    loss, logged = game.generator_loss(Objective(LossConfig("vanilla")), 8)
    for c, (rewards, (log_probs, r, mask)) in enumerate(zip(seen, losses)):
        assert rewards.shape == (4, game.seq_len) and torch.allclose(rewards, probs[c + 1].expand_as(rewards))
        assert torch.equal(r, rewards)
    hand = 0.0
    for log_probs, r, _ in losses:  # the tokens up to each sentence's first EOS count
        terms = []
        for lp_row, r_row, tokens in zip(log_probs, r, seen_samples.pop(0)):
            end = tokens.tolist().index(EOS) + 1 if EOS in tokens.tolist() else len(tokens)
            terms += [math.exp(lp) * (1 - rr) for lp, rr in zip(lp_row[:end].tolist(), r_row[:end].tolist())]
        hand += sum(terms) / len(terms)
    assert loss.item() == pytest.approx(hand, rel=1e-5)
    assert logged["reward_mean"] == pytest.approx(probs[1:].mean().item(), rel=1e-5)
    loss.backward()
    for g in game.generator.generators:
        assert g.out.weight.grad.abs().sum() > 0


# ---------------------------------------------------------------------- CatGAN
@pytest.mark.parametrize("kind", ["lstm", "rmc"])
def test_the_conditional_generator_steps_as_it_teacher_forces_and_hears_its_category(kind):
    torch.manual_seed(0)
    g = (CategoryLSTMGenerator(20, 8, 8, 3, bos_id=1) if kind == "lstm"
         else CategoryRMCGenerator(20, 8, 1, 2, 8, 3, bos_id=1))
    tokens, labels = torch.randint(0, 20, (6, 5)), torch.tensor([0, 1, 2, 0, 1, 2])
    forced = g.log_probs(tokens, labels)
    state, prev, stepped = g.init_state(labels), torch.full((6,), 1), []
    for t in range(5):
        features, state = g.step_features(prev, state)
        stepped.append(torch.log_softmax(g.out(features), -1).gather(1, tokens[:, t : t + 1])[:, 0])
        prev = tokens[:, t]
    assert torch.allclose(torch.stack(stepped, 1), forced, atol=1e-5)
    assert not torch.allclose(forced, g.log_probs(tokens, (labels + 1) % 3))  # the category matters
    assert torch.allclose(g.category(2).log_probs(tokens), g.log_probs(tokens, torch.full((6,), 2)))
    if kind == "rmc":  # [embedding; one-hot] through the input projection: without the category's
        with torch.no_grad():  # columns, the relational memory itself
            g.category_in.weight.zero_()
        assert torch.allclose(g.log_probs(tokens, labels), g.core.log_probs(tokens), atol=1e-5)


def test_catgan_pairs_category_c_reals_and_fakes_under_head_c(tmp_path):
    logits = torch.arange(4 * 2 * 2, dtype=torch.float).view(8, 2)  # 4 sentences x 2 reps, 2 heads
    # rows 0-3 are sentences 0-1 (category 0), rows 4-7 sentences 2-3 (category 1)
    assert own_heads(logits, 2).tolist() == [0, 2, 4, 6, 9, 11, 13, 15]
    game = game_of(tmp_path, "catgan")
    real, fake = game.real_batch(), game.fake_batch(8)
    assert fake.shape == (8, game.seq_len, game.data.vocab_size)
    game.discriminator.eval()
    loss, _, _, _ = game.discriminator_loss(Objective(LossConfig("rsgan")), real, fake)
    z_real, z_fake = game.discriminator(real).view(8, 4, 2), game.discriminator(fake).view(8, 4, 2)
    hand = sum(F.softplus(-(z_real[4 * c : 4 * c + 4, :, c] - z_fake[4 * c : 4 * c + 4, :, c])).mean()
               for c in range(2))
    assert loss.item() == pytest.approx(hand.item(), rel=1e-5)


def test_catgan_keeps_the_fittest_child_and_every_child_starts_from_the_parent(tmp_path, monkeypatch):
    game = game_of(tmp_path, "catgan")
    game.model_cfg.lambda_fd = 1.0
    game.on_step(5, 10)
    game.model_cfg.beta_max = 10.0
    betas = game.candidate_betas()
    assert len(betas) == 3  # the schedule now, one step later and one earlier
    cfg = OptimConfig()
    opt = torch.optim.Adam(game.generator.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    ema = EMA(game.generator, 0.0)
    optimised = Optimised(opt, sched, cfg)
    players = Players(game, Objective(LossConfig("rasgan")), optimised, optimised, optimised, 8, ema=ema)
    parent = {k: v.clone() for k, v in game.generator.state_dict().items()}
    # quality picks the temperature within a mutation; quality + diversity picks the mutation
    scores = {("rasgan", betas[0]): (0.9, 0.0), ("rasgan", betas[1]): (0.2, 5.0),
              ("rsgan", betas[2]): (0.5, 0.6), ("rsgan", betas[0]): (0.4, 9.0)}
    children, starts = {}, []

    def spy_step(p, step):
        starts.append(all(torch.equal(v, parent[k]) for k, v in game.generator.state_dict().items()))
        return g_step(p, step)

    def fitness(real):
        children[(game.mutation, game.beta)] = {k: v.clone() for k, v in game.generator.state_dict().items()}
        return scores.get((game.mutation, game.beta), (0.0, 0.0))

    monkeypatch.setattr(game, "fitness", fitness)
    record = game.generator_phase(players, 7, 1, spy_step)
    assert all(starts) and len(starts) == 6
    assert (game.mutation, game.beta) == ("rsgan", betas[2])  # 0.5 + 0.6 beats 0.9 + 0
    assert record["mutation"] == 1.0 and record["beta"] == betas[2]
    best = children[("rsgan", betas[2])]
    assert all(torch.equal(v, best[k]) for k, v in game.generator.state_dict().items())
    assert all(torch.equal(v, best[k]) for k, v in ema.module.state_dict().items())  # EMA of the survivor


# ---------------------------------------------------------------------- through the command line
def write_recipe(tmp_path: Path, family: str, **train) -> Path:
    path = tmp_path / f"{family}.yaml"
    path.write_text(json.dumps(recipe_dict(tmp_path, family, **train)))  # JSON is YAML
    return path


@pytest.mark.parametrize("family", ["sentigan", "catgan"])
def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path, family):
    recipe = write_recipe(tmp_path, family, steps=14)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert main(["train", str(recipe), "--out", str(straight)]) == 0
    assert kill_after_first_checkpoint(recipe, killed) < 20, "the run finished before it could be killed"
    resumed = run_cli("train", str(recipe), "--out", str(killed), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_weights(straight, killed)
    summary = [json.loads((run / "summary.json").read_text()) for run in (straight, killed)]
    assert summary[0]["class_accuracy"] == summary[1]["class_accuracy"]


def test_quick_run_is_read_by_doctor_and_samples_by_category(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(write_recipe(tmp_path, "catgan")), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert {"class_accuracy", "class_accuracy_pos", "bleu_2_neg", "nll_gen_pos",
            "classifier_accuracy"} <= set(summary)
    assert main(["doctor", str(out)]) == 0
    capsys.readouterr()
    assert main(["sample", str(out), "--n", "6", "--category", "neg"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 6
    assert main(["sample", str(out), "--n", "5"]) == 0
    names = [line.split("\t")[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["pos", "pos", "pos", "neg", "neg"]
    assert main(["sample", str(out), "--category", "neutral"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: unknown category 'neutral': this run's categories are pos, neg"]
