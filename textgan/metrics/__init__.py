"""textgan.metrics: text and image quality and diversity metrics (``name as name`` = public re-export)."""

from textgan.metrics.bleu import bleu as bleu
from textgan.metrics.bleu import bleu_multi as bleu_multi
from textgan.metrics.bleu import self_bleu as self_bleu
from textgan.metrics.bleu import self_bleu_multi as self_bleu_multi
from textgan.metrics.bleu import self_bleu_scores as self_bleu_scores
from textgan.metrics.bleu import sentence_bleu_scores as sentence_bleu_scores
from textgan.metrics.diversity import distinct_n as distinct_n
from textgan.metrics.diversity import length_stats as length_stats
from textgan.metrics.diversity import ngram_entropy as ngram_entropy
from textgan.metrics.diversity import novelty as novelty
from textgan.metrics.diversity import unique_ratio as unique_ratio
from textgan.metrics.fid import feature_statistics as feature_statistics
from textgan.metrics.fid import fid_from_features as fid_from_features
from textgan.metrics.fid import kid_from_features as kid_from_features
from textgan.metrics.frechet import frechet_distance as frechet_distance
from textgan.metrics.frechet import gaussian_stats as gaussian_stats
from textgan.metrics.image_quality import psnr as psnr
from textgan.metrics.image_quality import ssim as ssim
from textgan.metrics.inception_score import inception_score as inception_score
from textgan.metrics.nll import model_nll as model_nll
from textgan.metrics.nll import nll_div as nll_div
from textgan.metrics.nll import nll_gen as nll_gen
from textgan.metrics.nll import nll_oracle as nll_oracle
from textgan.metrics.nll import perplexity as perplexity
from textgan.metrics.nll import token_mask as token_mask
from textgan.metrics.precision_recall import precision_recall as precision_recall
