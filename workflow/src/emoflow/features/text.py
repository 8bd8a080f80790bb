"""Text features: transcript markup policy, the tokenizer and BERT backbone, and token ids.

Markup policy (``text.tag_policy``)
-----------------------------------
KEMDy19 transcripts carry ETRI (KsponSpeech-style) markup. ``clean_transcript`` handles it:

==========  ====================================  ==================
markup      meaning (KsponSpeech conventions)      ``token`` policy
==========  ====================================  ==================
``b/``      breath                                 ``[BREATH]``
``l/``      laughter                               ``[LAUGH]``
``n/``      noise                                  ``[NOISE]``
``N/``      noise (upper-case variant)             ``[NOISE]``
``u/``      unintelligible speech                  ``[UNCLEAR]``
``o/``      other speaker's voice / overlap        ``[OVERLAP]``
``c/``      tag of undocumented meaning            ``[TAG_C]``
``s/``      tag of undocumented meaning            ``[TAG_S]``
``(A)/(B)`` dual transcription (spelling/sound)    ``A``
``*``       uncertain word mark                    removed
==========  ====================================  ==================

* ``strip`` (default): tags and ``*`` are removed, ``(A)/(B)`` keeps ``A``, the stray ``/`` and ``+``
  marks of fillers and repetitions are removed, spaces are collapsed.
* ``keep``: the transcript is used unchanged.
* ``token``: as ``strip``, but every tag becomes the word token of the table. The locally built
  tokenizer knows these tokens as single pieces; a pretrained tokenizer splits them like any word.

A tag is one of the letters above directly followed by ``/`` and not preceded by a Latin letter, so
Korean fillers such as ``어/`` are not tags (their ``/`` is a filler mark, removed by ``strip``).

Backbones (``text.pretrained``)
-------------------------------
* ``null`` (default, offline): ``build_backbone`` trains a SentencePiece unigram tokenizer on the
  cleaned transcripts of the **training split only**, with the special pieces ``[PAD] [UNK] [CLS] [SEP]
  [MASK]`` (ids 0-4), converts it to a Hugging Face fast tokenizer with a BERT post-processor
  (``[CLS] x [SEP]``) and initialises a small BERT with a fixed seed. Both are saved in one folder.
* a hub name such as ``skt/kobert-base-v1``: ``fetch_pretrained`` downloads it (the only step that uses
  the network) and saves tokenizer and model in the same Hugging Face format.
* a local folder: used as is, through ``load_tokenizer``.

KoBERT's tokenizer
------------------
``skt/kobert-base-v1`` ships a SentencePiece model (``spiece.model``) and a ``tokenizer_config.json`` that
names ``XLNetTokenizer``; the official loader is ``KoBERTTokenizer`` (package ``kobert_tokenizer``), an
XLNetTokenizer subclass that builds BERT inputs ``[CLS] x [SEP]``, pads on the right and uses token type
0. Loading the folder with plain ``XLNetTokenizer``/``AutoTokenizer`` gives XLNet's layout instead
(``x [SEP] [CLS]``, left padding), which silently mismatches the BERT weights, and in current
transformers the conversion of ``spiece.model`` also needs the protobuf package. ``load_tokenizer``
therefore recognises such folders (an XLNet/KoBERT tokenizer class with a ``spiece.model``) and
builds the fast tokenizer itself from ``spiece.model``: the same unigram pieces and scores, KoBERT's
text preprocessing (````/'' -> ", NFKD without combining marks, recomposed by SentencePiece's NFKC
normalisation, then its character map), the BERT template and right padding. Only KoBERT's rare
re-split of pieces ending in ``<digit>,`` is not reproduced. ``fetch_pretrained`` saves that fast
tokenizer, so the fetched folder loads with plain ``AutoTokenizer.from_pretrained``. Any tokenizer
whose single-sequence layout is not ``cls x sep`` is refused with a DataError.

Offline use of a hub model: on a machine with network run
``hf download skt/kobert-base-v1 --local-dir /path/kobert`` (older clients: ``huggingface-cli download``)
and set ``text.pretrained: /path/kobert``.

Token ids (``results/features/text.parquet``)
---------------------------------------------
One row per segment of segments.parquet: ``segment_id``, ``input_ids`` (list<int32>) and
``attention_mask`` (list<int8>) padded/truncated to ``text.max_length``, ``n_tokens`` (length with
[CLS]/[SEP] before truncation), ``truncated``, ``empty``, ``ok`` and ``reason``. A transcript that is
empty after cleaning (e.g. only ``b/``) is *usable*: it encodes as ``[CLS] [SEP]``, as the utterance
did happen. The QC table (``results/qc/text.tsv``) adds ``status == "note"`` rows that count these
empty transcripts and the truncated ones; they are not part of the usable/missing accounting. Only a
missing transcript (null text) is unusable (``missing_transcript``); its row holds the encoding of
an empty text with ``ok`` False.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import struct
import tempfile
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..io import atomic_path, write_tsv
from ..qc import check_missing, qc_table

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------
# Markup policy

TAG_TOKENS = {
    "b": "[BREATH]",
    "l": "[LAUGH]",
    "n": "[NOISE]",
    "N": "[NOISE]",
    "u": "[UNCLEAR]",
    "o": "[OVERLAP]",
    "c": "[TAG_C]",
    "s": "[TAG_S]",
}
# Distinct word tokens, in table order (they become single pieces of the local tokenizer).
MARKUP_TOKENS = list(dict.fromkeys(TAG_TOKENS.values()))
TAG_POLICIES = ("strip", "keep", "token")
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

_TAG = re.compile(r"(?<![A-Za-z])([" + "".join(TAG_TOKENS) + r"])/")
_ALTERNATIVE = re.compile(r"\(([^()]*)\)\s*/\s*\(([^()]*)\)")


def clean_transcript(text, policy: str = "strip") -> str:
    """Apply the markup policy (see the module docstring) to one transcript."""
    if policy not in TAG_POLICIES:
        raise ValueError(f"unknown tag policy {policy!r}; expected one of {TAG_POLICIES}")
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return ""
    text = str(text)
    if policy == "keep":
        return text
    text = _ALTERNATIVE.sub(lambda m: m.group(1), text)
    if policy == "token":
        text = _TAG.sub(lambda m: f" {TAG_TOKENS[m.group(1)]} ", text)
    else:
        text = _TAG.sub(" ", text)
    text = re.sub(r"[*/+]", " ", text)
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------
# SentencePiece model -> Hugging Face fast tokenizer (no protobuf dependency)

_NORMAL, _UNKNOWN, _CONTROL, _USER_DEFINED, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6


@dataclass
class SpmModel:
    """The parts of a SentencePiece ``ModelProto`` that the conversion needs."""

    pieces: list[tuple[str, float, int]] = field(default_factory=list)  # (piece, score, type)
    model_type: int = 1  # 1 unigram, 2 bpe, 3 word, 4 char
    precompiled_charsmap: bytes = b""
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True

    @property
    def unk_id(self) -> int:
        return next((i for i, (_, _, t) in enumerate(self.pieces) if t == _UNKNOWN), 0)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        out |= (b & 0x7F) << shift
        if not b & 0x80:
            return out, pos
        shift += 7


def _fields(buf: bytes):
    """Yield (field number, wire type, value) of a protobuf message (value: int or bytes)."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = _varint(buf, pos)
        elif wire == 1:
            val, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            val, pos = buf[pos : pos + n], pos + n
        elif wire == 5:
            val, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield num, wire, val


def parse_spm_model(data: bytes) -> SpmModel:
    """Read pieces, model type and normaliser settings from a serialised SentencePiece model."""
    model = SpmModel()
    for num, wire, val in _fields(data):
        if num == 1 and wire == 2:  # SentencePiece piece
            piece, score, ptype = "", 0.0, _NORMAL
            for n, w, v in _fields(val):
                if n == 1:
                    piece = v.decode("utf-8")
                elif n == 2 and w == 5:
                    score = struct.unpack("<f", v)[0]
                elif n == 3:
                    ptype = v
            model.pieces.append((piece, score, ptype))
        elif num == 2 and wire == 2:  # TrainerSpec
            for n, _, v in _fields(val):
                if n == 3:
                    model.model_type = v
        elif num == 3 and wire == 2:  # NormalizerSpec
            for n, _, v in _fields(val):
                if n == 2:
                    model.precompiled_charsmap = bytes(v)
                elif n == 3:
                    model.add_dummy_prefix = bool(v)
                elif n == 4:
                    model.remove_extra_whitespaces = bool(v)
    if not model.pieces:
        raise ValueError("no pieces: not a SentencePiece model")
    return model


def spm_to_fast_tokenizer(
    spm_bytes: bytes,
    *,
    source: str,
    kobert_preprocess: bool = False,
    lowercase: bool = False,
    special: dict[str, str] | None = None,
    model_max_length: int = 512,
):
    """A ``PreTrainedTokenizerFast`` that tokenises like the SentencePiece model, with BERT inputs.

    ``kobert_preprocess`` adds XLNet/KoBERT's text preprocessing (quotes, NFKD, no combining marks)
    in front of SentencePiece's normalisation. ``special`` maps unk/pad/cls/sep/mask to piece strings.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import PreTrainedTokenizerFast

    try:
        spm = parse_spm_model(spm_bytes)
    except (ValueError, IndexError, UnicodeDecodeError, struct.error) as exc:
        raise DataError(source, f"cannot read the SentencePiece model ({exc})") from exc
    if spm.model_type != 1:
        raise DataError(source, f"only unigram SentencePiece models are supported "
                                f"(model_type {spm.model_type})")
    special = {"unk": "[UNK]", "pad": "[PAD]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]",
               **(special or {})}
    vocab = [(p, s) for p, s, _ in spm.pieces]
    index = {p: i for i, (p, _, _) in enumerate(spm.pieces)}
    missing = [tok for tok in special.values() if tok not in index]
    if missing:
        raise DataError(source, f"the SentencePiece vocabulary lacks the special token(s) "
                                f"{', '.join(missing)}")

    byte_fallback = any(t == _BYTE for _, _, t in spm.pieces)
    tok = Tokenizer(Unigram(vocab, unk_id=spm.unk_id, byte_fallback=byte_fallback))
    norms = []
    if kobert_preprocess:
        norms += [normalizers.Replace("``", '"'), normalizers.Replace("''", '"'), normalizers.NFKD(),
                  normalizers.StripAccents()]
    # SentencePiece's own NFKC composes decomposed Hangul (jamo); tokenizers' Precompiled map does not.
    norms.append(normalizers.NFKC())
    if lowercase:
        norms.append(normalizers.Lowercase())
    if spm.precompiled_charsmap:
        norms.append(normalizers.Precompiled(spm.precompiled_charsmap))
    if spm.remove_extra_whitespaces:
        norms += [normalizers.Strip(), normalizers.Replace(Regex(" {2,}"), " ")]
    tok.normalizer = normalizers.Sequence(norms)
    scheme = "always" if spm.add_dummy_prefix else "never"
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=scheme)]
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme=scheme)
    cls_tok, sep_tok = special["cls"], special["sep"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls_tok}:0 $A:0 {sep_tok}:0",
        pair=f"{cls_tok}:0 $A:0 {sep_tok}:0 $B:1 {sep_tok}:1",
        special_tokens=[(cls_tok, index[cls_tok]), (sep_tok, index[sep_tok])],
    )
    specials = list(dict.fromkeys(list(special.values()) + [p for p, _, t in spm.pieces if t == _CONTROL]))
    tok.add_special_tokens([AddedToken(p, special=True, normalized=False) for p in specials])
    user = [p for p, _, t in spm.pieces if t == _USER_DEFINED and p not in specials]
    if user:
        tok.add_tokens([AddedToken(p, special=False, normalized=False) for p in user])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token=special["unk"],
        pad_token=special["pad"],
        cls_token=cls_tok,
        sep_token=sep_tok,
        mask_token=special["mask"],
        padding_side="right",
        truncation_side="right",
        model_max_length=model_max_length,
    )


# ---------------------------------------------------------------------------------------------
# Loading a tokenizer from a folder

_XLNET_STYLE = {"XLNetTokenizer", "XLNetTokenizerFast", "KoBERTTokenizer"}


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(path, f"not valid JSON ({exc})") from exc


def _token_str(value, default: str) -> str:
    if isinstance(value, dict):
        return str(value.get("content", default))
    return default if value is None else str(value)


def load_tokenizer(folder):
    """The tokenizer of a backbone folder, always producing BERT inputs ``[CLS] x [SEP]``.

    Folders written by this package (and ordinary Hugging Face BERT folders) load with
    ``AutoTokenizer``; a KoBERT-style folder (XLNet/KoBERT tokenizer class + ``spiece.model``) is
    converted from its SentencePiece model (see the module docstring).
    """
    from transformers import AutoTokenizer

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise DataError(folder, "text backbone folder does not exist (set text.pretrained to a "
                                "folder with a Hugging Face tokenizer and model, or null to build one)")
    cfg = _read_json(folder / "tokenizer_config.json")
    spiece = folder / "spiece.model"
    only_spm = not (folder / "tokenizer.json").exists() and not (folder / "vocab.txt").exists()
    if spiece.is_file() and (cfg.get("tokenizer_class") in _XLNET_STYLE or only_spm):
        defaults = {"unk": "[UNK]", "pad": "[PAD]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}
        special = {k: _token_str(cfg.get(f"{k}_token"), d) for k, d in defaults.items()}
        max_len = cfg.get("model_max_length")
        max_len = int(max_len) if isinstance(max_len, (int, float)) and max_len < 1e6 else 512
        log.info("%s: SentencePiece tokenizer (class %s) converted to BERT inputs", folder,
                 cfg.get("tokenizer_class"))
        tok = spm_to_fast_tokenizer(
            spiece.read_bytes(),
            source=str(spiece),
            kobert_preprocess=not cfg.get("keep_accents", False),
            lowercase=bool(cfg.get("do_lower_case", False)),
            special=special,
            model_max_length=max_len,
        )
    else:
        try:
            tok = AutoTokenizer.from_pretrained(str(folder))
        except (OSError, ValueError) as exc:
            raise DataError(folder, f"cannot load a tokenizer from this folder ({exc})") from exc
    _check_bert_layout(tok, folder)
    return tok


def _check_bert_layout(tok, folder) -> None:
    """Refuse a tokenizer whose single-sequence layout is not ``cls x sep`` (e.g. XLNet's ``x sep cls``)."""
    if tok.cls_token_id is None or tok.sep_token_id is None:
        raise DataError(folder, "the tokenizer defines no [CLS]/[SEP] tokens; a BERT-style tokenizer "
                                "is required")
    ids = tok("a")["input_ids"]
    if ids[0] != tok.cls_token_id or ids[-1] != tok.sep_token_id:
        raise DataError(folder, f"the tokenizer builds {tok.convert_ids_to_tokens(ids)} instead of "
                                f"[CLS] x [SEP]; a BERT-style tokenizer is required")


def load_model_config(folder) -> dict:
    """The backbone's config.json (empty when absent)."""
    return _read_json(Path(folder).expanduser() / "config.json")


# ---------------------------------------------------------------------------------------------
# Local backbone: tokenizer trained on the training split + randomly initialised small BERT


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


def train_spm(texts: list[str], vocab_size: int) -> bytes:
    """Train a SentencePiece unigram model on ``texts``.

    ``vocab_size`` is an upper bound: a small corpus gives fewer pieces (soft limit). Characters fill
    at most three quarters of the vocabulary; rarer characters are left out of training (replaced by
    spaces), so they map to [UNK] later (count and share logged). Single-threaded, deterministic.
    """
    import sentencepiece as spm

    corpus = [t for t in texts if t.strip()]
    if not corpus:
        raise ValueError("no non-empty training transcripts to train the tokenizer on")
    n_meta = len(SPECIAL_TOKENS) + len(MARKUP_TOKENS) + 1  # + the word-boundary piece
    budget = int(vocab_size) - n_meta
    max_chars = budget - budget // 4
    while max_chars > 0:
        kept, n_rare, share = _drop_rare_characters(corpus, max_chars)
        buf = io.BytesIO()
        try:
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
        except RuntimeError as exc:
            if "required_chars" not in str(exc):
                raise
            max_chars = int(max_chars * 0.9)  # SentencePiece counted a few more characters than we did
            continue
        if n_rare:
            log.info("%d rare characters (%.3f%% of the training text) left to [UNK] to fit vocab_size %d",
                     n_rare, 100 * share, vocab_size)
        return buf.getvalue()
    raise ValueError(f"text.vocab_size {vocab_size} leaves no room for the characters of the training text")


def training_texts(segments: pd.DataFrame, tag_policy: str) -> list[str]:
    """Cleaned transcripts of the training split only, in segment_id order."""
    for col in ("segment_id", "split", "text"):
        if col not in segments.columns:
            raise KeyError(col)
    train = segments[segments["split"] == "train"].sort_values("segment_id", kind="stable")
    return [clean_transcript(t, tag_policy) for t in train["text"]]


def build_backbone(segments_path, out_dir, *, vocab_size: int, tag_policy: str, max_length: int,
                   backbone: dict, seed: int) -> None:
    """Tokenizer trained on the training split + small BERT, saved together in ``out_dir``."""
    import torch
    from transformers import BertConfig, BertModel

    segments = pd.read_parquet(segments_path)
    try:
        texts = training_texts(segments, tag_policy)
    except KeyError as exc:
        raise DataError(segments_path, f"missing column {exc}") from exc
    if not any(t.strip() for t in texts):
        raise DataError(segments_path, "no training-split segment has a non-empty transcript to train "
                                       "the tokenizer on")
    log.info("training the tokenizer on %d training transcripts (%d of %d segments held out)",
             len(texts), len(segments) - len(texts), len(segments))
    try:
        model_proto = train_spm(texts, vocab_size)
    except ValueError as exc:
        raise DataError(segments_path, str(exc)) from exc
    tokenizer = spm_to_fast_tokenizer(model_proto, source="trained tokenizer", model_max_length=max_length)
    log.info("vocabulary: %d pieces (requested %d)", len(tokenizer), vocab_size)

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
        model = BertModel(config)
    finally:
        torch.random.set_rng_state(state)
    _quiet_progress_bars()
    with _atomic_dir(out_dir) as tmp:
        tokenizer.save_pretrained(tmp)
        model.save_pretrained(tmp, safe_serialization=True)
        _drop_local_paths(tmp)


# ---------------------------------------------------------------------------------------------
# Hub backbone


def fetch_pretrained(name: str, out_dir, revision: str | None = None) -> None:
    """Download a hub model (the only network step) and save tokenizer + model to ``out_dir``."""
    from huggingface_hub import snapshot_download
    from transformers import AutoModel

    where = f"{name}@{revision}" if revision else name
    Path(out_dir).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=Path(out_dir).parent) as tmp:
        try:
            path = snapshot_download(
                repo_id=name, revision=revision, local_dir=tmp,
                allow_patterns=["*.json", "*.model", "*.txt", "*.safetensors", "pytorch_model.bin"],
            )
        except Exception as exc:  # network, offline mode, unknown repo: all end here
            rev = f" --revision {revision}" if revision else ""
            first_line = (str(exc).splitlines() or [""])[0]
            raise DataError(
                where,
                f"cannot download from the Hugging Face hub ({type(exc).__name__}: {first_line}). "
                f"Pre-fetch it on a machine with network: `hf download {name}{rev} --local-dir "
                f"/path/to/model` (older clients: `huggingface-cli download ...`), then set "
                f"`text.pretrained: /path/to/model` (a local folder) in the config.",
            ) from exc
        _quiet_progress_bars()
        path = Path(path)
        if (path / "model.safetensors").exists() and (path / "pytorch_model.bin").exists():
            (path / "pytorch_model.bin").unlink()
        tokenizer = load_tokenizer(path)
        model = AutoModel.from_pretrained(str(path))
        with _atomic_dir(out_dir) as dest:
            tokenizer.save_pretrained(dest)
            model.save_pretrained(dest, safe_serialization=True)
            _drop_local_paths(dest)
    log.info("saved %s to %s", where, out_dir)


# ---------------------------------------------------------------------------------------------
# Folder helpers


class _atomic_dir:
    """Build a folder beside ``path`` and rename it into place only when complete."""

    def __init__(self, path):
        self.path = Path(path)

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=self.path.parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.tmp, 0o777 & ~umask)  # mkdtemp makes it private; the result is an ordinary folder
        return self.tmp

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            if self.path.exists():
                shutil.rmtree(self.path)
            os.replace(self.tmp, self.path)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return False


def _quiet_progress_bars() -> None:
    """No progress bars in rule logs."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


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


# ---------------------------------------------------------------------------------------------
# Token ids for every segment

TEXT_COLUMNS = ["segment_id", "input_ids", "attention_mask", "n_tokens", "truncated", "empty", "ok", "reason"]


def encode_texts(tokenizer, texts: list[str], max_length: int) -> dict[str, np.ndarray]:
    """input_ids / attention_mask padded or truncated to ``max_length``, plus untruncated lengths."""
    if not texts:
        return {"input_ids": np.zeros((0, max_length), np.int32),
                "attention_mask": np.zeros((0, max_length), np.int8), "n_tokens": np.zeros(0, np.int32)}
    full = tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
    enc = tokenizer(texts, add_special_tokens=True, truncation=True, max_length=max_length,
                    padding="max_length", return_token_type_ids=False)
    ids = np.asarray(enc["input_ids"], dtype=np.int32)
    mask = np.asarray(enc["attention_mask"], dtype=np.int8)
    if ids.shape != (len(texts), max_length):
        raise ValueError(f"tokenizer returned shape {ids.shape}, expected {(len(texts), max_length)}")
    return {"input_ids": ids, "attention_mask": mask, "n_tokens": np.array([len(x) for x in full], np.int32)}


def text_features(segments: pd.DataFrame, tokenizer, tag_policy: str, max_length: int) -> pd.DataFrame:
    """One row per segment: token ids, mask, length, truncation and empty-transcript flags.

    An empty transcript (after cleaning) is usable: it encodes as ``[CLS] [SEP]`` and is flagged
    ``empty`` (a breath-only turn is still an utterance). A missing transcript (null text) is not.
    """
    missing = segments["text"].isna().to_numpy()
    cleaned = [clean_transcript(t, tag_policy) for t in segments["text"]]
    enc = encode_texts(tokenizer, cleaned, max_length)
    n_tokens = enc["n_tokens"]
    df = pd.DataFrame({
        "segment_id": segments["segment_id"].astype(str).to_numpy(),
        "input_ids": list(enc["input_ids"]),
        "attention_mask": list(enc["attention_mask"]),
        "n_tokens": n_tokens,
        "truncated": n_tokens > max_length,
        "empty": np.array([not c for c in cleaned]) & ~missing,
        "ok": ~missing,
        "reason": np.where(missing, "missing_transcript", ""),
    })
    return df[TEXT_COLUMNS]


def text_qc(features: pd.DataFrame) -> pd.DataFrame:
    """qc.qc_table rows plus ``note`` rows counting usable-but-empty and truncated transcripts."""
    table = qc_table("text", features["ok"], features["reason"])
    n = len(features)
    notes = []
    for reason, flag in (("empty_transcript", features["empty"] & features["ok"]),
                         ("truncated", features["truncated"] & features["ok"])):
        count = int(flag.sum())
        notes.append({"modality": "text", "status": "note", "reason": reason, "n_segments": count,
                      "fraction": count / n if n else 0.0})
    return pd.concat([table, pd.DataFrame(notes, columns=table.columns)], ignore_index=True)


def _arrow_table(features: pd.DataFrame):
    import pyarrow as pa

    n = len(features)
    ids = np.stack(features["input_ids"].to_list()) if n else np.zeros((0, 0), np.int32)
    mask = np.stack(features["attention_mask"].to_list()) if n else np.zeros((0, 0), np.int8)
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * ids.shape[1], pa.int32())
    cols = {
        "segment_id": pa.array(features["segment_id"].to_list(), pa.string()),
        "input_ids": pa.ListArray.from_arrays(offsets, pa.array(ids.reshape(-1), pa.int32())),
        "attention_mask": pa.ListArray.from_arrays(offsets, pa.array(mask.reshape(-1), pa.int8())),
    }
    for c in TEXT_COLUMNS[3:]:
        cols[c] = pa.array(features[c].to_numpy())
    return pa.table(cols)


def write_text_features(features: pd.DataFrame, path) -> None:
    """Write with explicit list<int32>/list<int8> types (atomic)."""
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(_arrow_table(features), tmp)


def tokenize_segments(segments_path, backbone_dir, out_features, out_qc, *, tag_policy: str,
                      max_length: int, max_missing: float) -> pd.DataFrame:
    """The text_features rule: every segment of segments.parquet -> text.parquet + QC table."""
    segments = pd.read_parquet(segments_path)
    for col in ("segment_id", "text"):
        if col not in segments.columns:
            raise DataError(segments_path, f"missing column {col!r}")
    tokenizer = load_tokenizer(backbone_dir)
    limit = load_model_config(backbone_dir).get("max_position_embeddings")
    if isinstance(limit, int) and max_length > limit:
        raise DataError(backbone_dir, f"text.max_length {max_length} exceeds the model's "
                                      f"max_position_embeddings {limit}")
    features = text_features(segments, tokenizer, tag_policy, max_length)
    qc = text_qc(features)
    log.info("text: %d segments, %d empty after cleaning, %d truncated to %d tokens", len(features),
             int(features["empty"].sum()), int(features["truncated"].sum()), max_length)
    write_tsv(qc, out_qc)
    check_missing("text", features["ok"], max_missing)
    write_text_features(features, out_features)
    return features
