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

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from ..errors import DataError
from ..features.text.spm_train import train_spm, training_texts
from ..features.text.tokenizer import load_tokenizer, spm_to_fast_tokenizer
from ..io import atomic_path

log = logging.getLogger(__name__)

_HUB_PATTERNS = ["*.json", "*.model", "*.txt", "*.safetensors", "pytorch_model.bin"]


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


def _drop_local_paths(folder: Path) -> None:
    """Remove ``name_or_path`` entries (temporary download paths) from the saved config files."""
    for name in ("config.json", "tokenizer_config.json"):
        path = Path(folder) / name
        if not path.exists():
            continue
        obj = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(obj, dict) and {"name_or_path", "_name_or_path"} & obj.keys():
            obj.pop("name_or_path", None)
            obj.pop("_name_or_path", None)
            text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
            path.write_text(text, encoding="utf-8")



def save_backbone(backbone: Backbone, out_dir) -> None:
    """Save tokenizer and model in Hugging Face format to the folder ``out_dir`` (replaced).

    Both are saved to a temporary folder beside ``out_dir`` first; each file is then moved into
    ``out_dir`` through ``io.atomic_path``, so no file there is ever half-written.
    """
    quiet_transformers()
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.", dir=out_dir.parent) as tmp:
        backbone.tokenizer.save_pretrained(tmp)
        backbone.model.save_pretrained(tmp, safe_serialization=True)
        _drop_local_paths(Path(tmp))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        for src in sorted(p for p in Path(tmp).rglob("*") if p.is_file()):
            with atomic_path(out_dir / src.relative_to(tmp)) as dest:
                os.replace(src, dest)


# ---------------------------------------------------------------------------------------------
# Hub backbone


def _download(name: str, revision: str | None, into: str) -> Path:
    """``snapshot_download`` into the folder ``into``; DataError telling how to pre-fetch on failure."""
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(repo_id=name, revision=revision, local_dir=into,
                                 allow_patterns=_HUB_PATTERNS)
    except Exception as exc:  # network, offline mode, unknown repo: all end here
        where = f"{name}@{revision}" if revision else name
        rev = f" --revision {revision}" if revision else ""
        first_line = (str(exc).splitlines() or [""])[0]
        raise DataError(
            where,
            f"cannot download from the Hugging Face hub ({type(exc).__name__}: {first_line}). "
            f"Pre-fetch it on a machine with network: `hf download {name}{rev} --local-dir "
            f"/path/to/model` (older clients: `huggingface-cli download ...`), then set "
            f"`text.pretrained: /path/to/model` (a local folder) in the config.",
        ) from exc
    return Path(path)


def fetch_pretrained(name: str, out_dir, revision: str | None = None) -> None:
    """Download a hub model (the only network step) and save tokenizer + model to ``out_dir``."""
    from transformers import AutoModel

    Path(out_dir).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=Path(out_dir).parent) as tmp:
        path = _download(name, revision, tmp)
        quiet_transformers()
        if (path / "model.safetensors").exists() and (path / "pytorch_model.bin").exists():
            (path / "pytorch_model.bin").unlink()
        save_backbone(Backbone(load_tokenizer(path), AutoModel.from_pretrained(str(path))), out_dir)
    log.info("saved %s to %s", f"{name}@{revision}" if revision else name, out_dir)
