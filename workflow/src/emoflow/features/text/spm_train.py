"""Training the local tokenizer: a SentencePiece unigram model on the training split's transcripts.

The model has the special pieces ``[PAD] [UNK] [CLS] [SEP] [MASK]`` (ids 0-4) and the markup tokens
of ``markup`` as single pieces; ``tokenizer.spm_to_fast_tokenizer`` turns it into the Hugging Face
tokenizer saved with the local backbone (``emoflow.models.backbone.build_backbone``).
"""

from __future__ import annotations

import io
import logging
import unicodedata
from collections import Counter

import pandas as pd

from .markup import MARKUP_TOKENS, clean_text, overlap_counts
from .tokenizer import SPECIAL_TOKENS

log = logging.getLogger(__name__)


def _drop_rare_characters(corpus: list[str], max_chars: int) -> tuple[list[str], int, float]:
    """Replace all but the ``max_chars`` most frequent characters by spaces (ties: code point order).

    Returns the corpus, the number of distinct characters replaced and their share of the text.
    """
    counts: Counter = Counter()
    for text in corpus:
        counts.update(ch for ch in unicodedata.normalize("NFKC", text) if not ch.isspace())
    if len(counts) <= max_chars:
        return corpus, 0, 0.0
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    rare = {ch for ch, _ in ranked[max_chars:]}
    share = sum(counts[ch] for ch in rare) / sum(counts.values())
    table = str.maketrans({ch: " " for ch in rare})
    return [unicodedata.normalize("NFKC", t).translate(table) for t in corpus], len(rare), share



def _train_unigram(kept: list[str], vocab_size: int) -> bytes:
    """One SentencePiece training run (single-threaded, deterministic); the serialised model."""
    import sentencepiece as spm

    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(kept),
        model_writer=buf,
        model_type="unigram",
        vocab_size=int(vocab_size),
        hard_vocab_limit=False,  # soft limit: a small corpus gives a smaller vocabulary
        character_coverage=1.0,
        num_threads=1,
        shuffle_input_sentence=False,
        input_sentence_size=0,
        pad_id=0, pad_piece="[PAD]",
        unk_id=1, unk_piece="[UNK]",
        bos_id=2, bos_piece="[CLS]",
        eos_id=3, eos_piece="[SEP]",
        control_symbols=["[MASK]"],
        user_defined_symbols=MARKUP_TOKENS,
        minloglevel=2,
    )
    return buf.getvalue()


def train_spm(texts: list[str], vocab_size: int) -> bytes:
    """Train a SentencePiece unigram model on ``texts``.

    ``vocab_size`` is an upper bound: a small corpus gives fewer pieces (soft limit). Characters fill
    at most three quarters of the vocabulary; rarer characters are left out of training (replaced by
    spaces), so they map to [UNK] later (count and share logged). Single-threaded, deterministic.
    """
    corpus = [t for t in texts if t.strip()]
    if not corpus:
        raise ValueError("no non-empty training transcripts to train the tokenizer on")
    n_meta = len(SPECIAL_TOKENS) + len(MARKUP_TOKENS) + 1  # + the word-boundary piece
    budget = int(vocab_size) - n_meta
    max_chars = budget - budget // 4
    while max_chars > 0:
        kept, n_rare, share = _drop_rare_characters(corpus, max_chars)
        try:
            model = _train_unigram(kept, vocab_size)
        except RuntimeError as exc:
            if "required_chars" not in str(exc):
                raise
            max_chars = int(max_chars * 0.9)  # SentencePiece counted a few more characters than we did
            continue
        if n_rare:
            log.info("%d rare characters (%.3f%% of the training text) left to [UNK] to fit vocab_size %d",
                     n_rare, 100 * share, vocab_size)
        return model
    raise ValueError(f"text.vocab_size {vocab_size} leaves no room for the characters of the training text")


def training_texts(segments: pd.DataFrame, tag_policy: str, overlap: str) -> list[str]:
    """Cleaned transcripts of the training split only, in segment_id order: the overlap policy, then the
    tag policy (``markup.clean_text``, as for the token ids)."""
    for col in ("segment_id", "split", "text"):
        if col not in segments.columns:
            raise KeyError(col)
    train = segments[segments["split"] == "train"].sort_values("segment_id", kind="stable")
    counts = overlap_counts(train["text"], overlap)
    log.info("overlap policy %r changed %d training transcripts with (X+Y) markup; %d left unchanged "
             "(unbalanced parentheses)", overlap, counts["changed"], counts["unbalanced"])
    return [clean_text(t, tag_policy=tag_policy, overlap=overlap) for t in train["text"]]

