"""Reproduce Texygen's published COCO BLEU and Self-BLEU tables from the samples Texygen released.

Each model's 9,984 samples (``texygen_samples/*.txt``) are scored against the full 10,000-line COCO
test set (BLEU-2..5) and against each other, leave-one-out (Self-BLEU-2..5), with textgan's metrics,
both files lower-cased and tokenised with nltk's ``NLTKWordTokenizer``. Prints the table next to the
published numbers, appends it to benchmarks/RESULTS.md, and exits 1 if a cell misses by more than 0.002.
"""

from __future__ import annotations

import argparse
import sys

from bench_bleu import ORDERS, load_tokenised
from results import record

from textgan.data import data_file
from textgan.metrics import bleu_multi, self_bleu_multi

# geek-ai/Texygen, docs/evaluation.md at commit 2bf2502c: "On test dataset" (BLEU) and
# "Mode Collapse (Self-BLEU)" tables, BLEU-2..5.
PUBLISHED = {
    "mle": ("MLE", (0.731, 0.497, 0.305, 0.189), (0.916, 0.769, 0.583, 0.408)),
    "seq": ("SeqGAN", (0.745, 0.498, 0.294, 0.180), (0.950, 0.840, 0.670, 0.489)),
    "maligan": ("MaliGAN", (0.673, 0.432, 0.257, 0.159), (0.918, 0.781, 0.606, 0.437)),
    "rank": ("RankGAN", (0.743, 0.467, 0.264, 0.156), (0.959, 0.882, 0.762, 0.618)),
    "leakgan": ("LeakGAN", (0.746, 0.528, 0.355, 0.230), (0.966, 0.913, 0.848, 0.780)),
    "textgan": ("TextGAN", (0.593, 0.463, 0.277, 0.207), (0.942, 0.931, 0.804, 0.746)),
}
TOLERANCE = 0.002


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()

    references = load_tokenised(data_file("coco", "test"))
    rows = ["| model | BLEU-2..5 textgan (published) | Self-BLEU-2..5 textgan (published) | max dev |",
            "|---|---|---|---|"]
    worst = 0.0
    for stem, (name, bleu_published, self_published) in PUBLISHED.items():
        samples = load_tokenised(data_file("texygen-samples", stem))
        cells, deviation = [], 0.0
        for ours, published in ((bleu_multi(samples, references, ORDERS), bleu_published),
                                (self_bleu_multi(samples, ORDERS), self_published)):
            values = [ours[n] for n in ORDERS]
            deviation = max(deviation, *(abs(v - p) for v, p in zip(values, published)))
            cells.append(" ".join(f"{v:.3f} ({p:.3f})" for v, p in zip(values, published)))
        worst = max(worst, deviation)
        rows.append(f"| {name} ({len(samples)}) | {cells[0]} | {cells[1]} | {deviation:.4f} |")
    verdict = "within" if worst <= TOLERANCE else "NOT within"
    body = "\n".join([
        (f"Texygen's released samples vs the {len(references)}-line COCO test set, lower-cased, "
         "NLTKWordTokenizer; published: geek-ai/Texygen docs/evaluation.md @2bf2502."),
        "",
        *rows,
        "",
        f"Max deviation {worst:.4f}: {verdict} {TOLERANCE} on every cell.",
    ])
    print(body)
    record("texygen_check", body)
    sys.exit(0 if worst <= TOLERANCE else 1)


if __name__ == "__main__":
    main()
