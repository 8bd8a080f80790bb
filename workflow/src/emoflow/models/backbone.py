"""Text backbones: the local tokenizer + small BERT, a hub model fetched once, and saving them.

``text.pretrained: null`` (default, offline): ``build_backbone`` trains a SentencePiece unigram
tokenizer on the cleaned transcripts of the **training split only** (``features.text.spm_train``),
with the special pieces ``[PAD] [UNK] [CLS] [SEP] [MASK]`` (ids 0-4), converts it to a Hugging Face fast
tokenizer with a BERT post-processor (``[CLS] x [SEP]``) and initialises a small BERT with a fixed seed.
``save_backbone`` saves both in one folder, which training loads through ``from_pretrained()``.

A hub name such as ``skt/kobert-base-v1``: ``fetch_pretrained`` downloads it (the only step that uses the
network) and saves tokenizer and model in the same Hugging Face format (a KoBERT-style SentencePiece
tokenizer is converted, see ``features.text.tokenizer``).

``quiet_transformers`` turns off the transformers progress bars (they clutter the job logs).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from .. import hub
from ..errors import DataError
from ..features.text.spm_train import train_spm, training_texts
from ..features.text.tokenizer import load_tokenizer, spm_to_fast_tokenizer

log = logging.getLogger(__name__)


class Backbone(NamedTuple):
    tokenizer: object  # transformers.PreTrainedTokenizerFast
    model: object  # transformers.PreTrainedModel


def quiet_transformers() -> None:
    """No tqdm progress bars from transformers in the job logs."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


# ---------------------------------------------------------------------------------------------
# Local backbone: tokenizer trained on the training split + randomly initialised small BERT


def _train_tokenizer(segments: pd.DataFrame, vocab_size: int, tag_policy: str, overlap: str, max_length: int,
                     source):
    try:
        texts = training_texts(segments, tag_policy, overlap)
    except KeyError as exc:
        raise DataError(source, f"missing column {exc}") from exc
    if not any(t.strip() for t in texts):
        raise DataError(source, "no training-split segment has a non-empty transcript to train "
                                "the tokenizer on")
    log.info("training the tokenizer on %d training transcripts (%d of %d segments held out)",
             len(texts), len(segments) - len(texts), len(segments))
    try:
        model_proto = train_spm(texts, vocab_size)
    except ValueError as exc:
        raise DataError(source, str(exc)) from exc
    tokenizer = spm_to_fast_tokenizer(model_proto, source="trained tokenizer", model_max_length=max_length)
    log.info("vocabulary: %d pieces (requested %d)", len(tokenizer), vocab_size)
    return tokenizer


def _init_bert(tokenizer, backbone: dict, max_length: int, seed: int):
    """A randomly initialised ``BertModel`` (fixed seed; the global torch RNG is left as it was)."""
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=int(backbone["hidden_size"]),
        num_hidden_layers=int(backbone["num_layers"]),
        num_attention_heads=int(backbone["num_heads"]),
        intermediate_size=int(backbone["intermediate_size"]),
        max_position_embeddings=int(max_length),
        pad_token_id=tokenizer.pad_token_id,
        type_vocab_size=2,
    )
    if config.hidden_size % config.num_attention_heads:
        raise DataError("config text.backbone", f"hidden_size {config.hidden_size} is not a multiple of "
                                                f"num_heads {config.num_attention_heads}")
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(int(seed))
        return BertModel(config)
    finally:
        torch.random.set_rng_state(state)


def build_backbone(segments: pd.DataFrame, *, vocab_size: int, tag_policy: str, overlap: str, max_length: int,
                   backbone: dict, seed: int, source="segments.parquet") -> Backbone:
    """Tokenizer trained on the training split of ``segments`` (cleaned by ``overlap`` then ``tag_policy``,
    as the token ids are) + small BERT (``save_backbone`` saves them). ``source`` names the segment index
    in error messages."""
    tokenizer = _train_tokenizer(segments, vocab_size, tag_policy, overlap, max_length, source)
    return Backbone(tokenizer, _init_bert(tokenizer, backbone, max_length, seed))


# ---------------------------------------------------------------------------------------------
# Saving


def save_backbone(backbone: Backbone, out_dir) -> None:
    """Save tokenizer and model in Hugging Face format to the folder ``out_dir`` (replaced).

    Both are saved to a temporary folder beside ``out_dir`` first; each file is then moved into
    ``out_dir`` through ``io.atomic_path``, so no file there is ever half-written (``hub.publish``).
    """
    quiet_transformers()

    def write(tmp: Path) -> None:
        backbone.tokenizer.save_pretrained(tmp)
        backbone.model.save_pretrained(tmp, safe_serialization=True)

    hub.publish(write, out_dir)


# ---------------------------------------------------------------------------------------------
# Hub backbone


def fetch_pretrained(name: str, out_dir, revision: str | None = None) -> None:
    """Download a hub model (the only network step) and save tokenizer + model to ``out_dir``."""
    from transformers import AutoModel

    Path(out_dir).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=Path(out_dir).parent) as tmp:
        path = hub.download(name, revision, tmp, key="text.pretrained")
        quiet_transformers()
        if (path / "model.safetensors").exists() and (path / "pytorch_model.bin").exists():
            (path / "pytorch_model.bin").unlink()
        save_backbone(Backbone(load_tokenizer(path), AutoModel.from_pretrained(str(path))), out_dir)
    log.info("saved %s to %s", f"{name}@{revision}" if revision else name, out_dir)
