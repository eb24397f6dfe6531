"""textgan.metrics: text and image quality and diversity metrics (``name as name`` = public re-export)."""

from textgan.metrics.bleu import bleu as bleu
from textgan.metrics.bleu import bleu_multi as bleu_multi
from textgan.metrics.bleu import self_bleu as self_bleu
from textgan.metrics.bleu import self_bleu_multi as self_bleu_multi
from textgan.metrics.bleu import sentence_bleu_scores as sentence_bleu_scores
from textgan.metrics.diversity import distinct_n as distinct_n
from textgan.metrics.diversity import length_stats as length_stats
from textgan.metrics.diversity import ngram_entropy as ngram_entropy
from textgan.metrics.diversity import novelty as novelty
from textgan.metrics.diversity import unique_ratio as unique_ratio
