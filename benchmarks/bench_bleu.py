"""Time textgan's BLEU-2..5 and Self-BLEU-2..5 against fast-bleu, sacrebleu and nltk on the same inputs.

Inputs: Texygen's MLE samples (9,984 lines) as hypotheses and samples, the 10,000-line COCO test set as
references, both lower-cased and tokenised with nltk's ``NLTKWordTokenizer``. Each tool is timed from
token lists to the four mean scores (best of ``--repeat`` runs). nltk is timed on a few hypotheses and
extrapolated to the full size; sacrebleu computes corpus BLEU against one aligned reference per
hypothesis, a different quantity, shown for its speed only. Prints a table and ratios, appends them to
benchmarks/RESULTS.md (full runs only), and with ``--json`` prints one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from nltk.tokenize import NLTKWordTokenizer
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from results import record

from textgan.data import data_file
from textgan.metrics import bleu_multi, self_bleu_multi, sentence_bleu_scores

ORDERS = (2, 3, 4, 5)
WEIGHTS = {n: (1 / n,) * n for n in ORDERS}


def load_tokenised(path: Path, limit: int | None = None) -> list[list[str]]:
    """Lines of a text file, lower-cased and tokenised like Texygen's ``nltk.word_tokenize``."""
    tokenize = NLTKWordTokenizer().tokenize
    return [tokenize(line.lower()) for line in path.read_text(encoding="utf-8").splitlines()[:limit]]


def best_time(run: Callable[[], object], repeat: int) -> tuple[float, object]:
    """The shortest wall time of ``repeat`` runs, and the last run's result."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def nltk_seconds(hyps: list, refs: list, samples: list, subset: int) -> tuple[float, float, float]:
    """nltk's seconds for all hypotheses, extrapolated from ``subset`` of them, and its largest deviation
    from textgan's sentence scores on that subset (nltk computes all four orders in one call)."""
    smoothing = SmoothingFunction().method1
    weights = list(WEIGHTS.values())
    start = time.perf_counter()
    nltk_bleu = [sentence_bleu(refs, h, weights, smoothing) for h in hyps[:subset]]
    bleu_s = (time.perf_counter() - start) / subset * len(hyps)
    start = time.perf_counter()
    for i in range(subset):
        sentence_bleu(samples[:i] + samples[i + 1 :], samples[i], weights, smoothing)
    self_s = (time.perf_counter() - start) / subset * len(samples)
    ours = np.column_stack([sentence_bleu_scores(hyps[:subset], refs, n) for n in ORDERS])
    return bleu_s, self_s, float(np.abs(ours - np.array(nltk_bleu)).max())


def peers(hyps: list, refs: list, repeat: int, subset: int) -> tuple[dict, list[str]]:
    """Timings of the other tools ({name: {bleu_s, self_bleu_s}}) and notes on their results."""
    timings, notes = {}, []
    try:
        import fast_bleu
    except ImportError:
        notes.append("fast-bleu: not installed, skipped")
    else:
        bleu_s, scores = best_time(lambda: fast_bleu.BLEU(refs, WEIGHTS).get_score(hyps), repeat)
        self_s, self_scores = best_time(lambda: fast_bleu.SelfBLEU(hyps, WEIGHTS).get_score(), repeat)
        timings["fast_bleu"] = {"bleu_s": bleu_s, "self_bleu_s": self_s}
        means = ([f"{np.mean(scores[n]):.6f}" for n in ORDERS]
                 + [f"{np.mean(self_scores[n]):.6f}" for n in ORDERS])
        notes.append(f"fast-bleu values BLEU-2..5, Self-BLEU-2..5: {' '.join(means)}")
    try:
        import sacrebleu
    except ImportError:
        notes.append("sacrebleu: not installed, skipped")
    else:
        system, aligned = [" ".join(h) for h in hyps], [[" ".join(r) for r in refs[: len(hyps)]]]
        metrics = [sacrebleu.metrics.BLEU(max_ngram_order=n, tokenize="none", force=True) for n in ORDERS]
        bleu_s, _ = best_time(lambda: [m.corpus_score(system, aligned) for m in metrics], repeat)
        timings["sacrebleu"] = {"bleu_s": bleu_s, "self_bleu_s": None}
        notes.append("sacrebleu: corpus BLEU, one aligned reference per hypothesis (a different quantity); "
                     "no Self-BLEU")
    bleu_s, self_s, deviation = nltk_seconds(hyps, refs, hyps, subset)
    timings["nltk"] = {"bleu_s": bleu_s, "self_bleu_s": self_s}
    notes.append(f"nltk: timed on {subset} hypotheses and extrapolated to {len(hyps)}; "
                 f"max |textgan - nltk| sentence score on them: {deviation:.1e}")
    return timings, notes


def table(ours: dict, others: dict) -> str:
    """Markdown table of seconds and of each tool's time relative to textgan's."""
    def cell(seconds: float | None, base: float) -> str:
        return "-" if seconds is None else f"{seconds:.3f} s ({seconds / base:.1f}x)"

    rows = ["| tool | BLEU-2..5 | Self-BLEU-2..5 |", "|---|---|---|"]
    for name, t in {"textgan": ours, **others}.items():
        rows.append(f"| {name} | {cell(t['bleu_s'], ours['bleu_s'])} | "
                    f"{cell(t['self_bleu_s'], ours['self_bleu_s'])} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1,000 sentences, one run, nothing recorded")
    parser.add_argument("--json", action="store_true", help="print one JSON summary as the last line")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool, best time kept")
    parser.add_argument("--nltk-subset", type=int, default=20, help="hypotheses nltk is timed on")
    parser.add_argument("--workers", type=int, default=None, help="textgan threads (default: all cores)")
    args = parser.parse_args()
    size, repeat, subset = (1000, 1, 5) if args.quick else (None, args.repeat, args.nltk_subset)

    refs = load_tokenised(data_file("coco", "test"), size)
    hyps = load_tokenised(data_file("texygen-samples", "mle"), size)
    bleu_s, bleu = best_time(lambda: bleu_multi(hyps, refs, ORDERS, workers=args.workers), repeat)
    self_s, self_values = best_time(lambda: self_bleu_multi(hyps, ORDERS, workers=args.workers), repeat)
    ours = {"bleu_s": bleu_s, "self_bleu_s": self_s}
    others, notes = peers(hyps, refs, repeat, subset)

    values = (" ".join(f"{bleu[n]:.6f}" for n in ORDERS) + ", "
              + " ".join(f"{self_values[n]:.6f}" for n in ORDERS))
    body = "\n".join([
        (f"{len(hyps)} hypotheses (Texygen MLE samples) vs {len(refs)} references (COCO test), "
         f"Self-BLEU over the {len(hyps)} samples; best of {repeat}; ratios = time / textgan's time."),
        "",
        table(ours, others),
        "",
        f"- textgan values BLEU-2..5, Self-BLEU-2..5: {values}",
        *[f"- {note}" for note in notes],
    ])
    print(body)
    if not args.quick:
        record("bench_bleu", body)
    if args.json:
        print(json.dumps({**ours, "peers": others}))


if __name__ == "__main__":
    main()
