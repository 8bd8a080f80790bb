"""Tokenizers: a SentencePiece model as a Hugging Face fast tokenizer, and loading a backbone's tokenizer.

Every tokenizer this package uses produces BERT inputs ``[CLS] x [SEP]`` with right padding; any
tokenizer whose single-sequence layout is not ``cls x sep`` is refused with a DataError.

KoBERT's tokenizer
------------------
``skt/kobert-base-v1`` ships a SentencePiece model (``spiece.model``) and a ``tokenizer_config.json`` that
names ``XLNetTokenizer``; the official loader is ``KoBERTTokenizer`` (package ``kobert_tokenizer``), an
XLNetTokenizer subclass that builds BERT inputs ``[CLS] x [SEP]``, pads on the right and uses token type
0. Loading the folder with plain ``XLNetTokenizer``/``AutoTokenizer`` gives XLNet's layout instead
(``x [SEP] [CLS]``, left padding), which silently mismatches the BERT weights, and in current
transformers the conversion of ``spiece.model`` also needs the protobuf package. ``load_tokenizer``
therefore recognises such folders (an XLNet/KoBERT tokenizer class with a ``spiece.model``) and
builds the fast tokenizer itself from ``spiece.model`` (``spm_to_fast_tokenizer``): the same unigram
pieces and scores, KoBERT's text preprocessing (````/'' -> ", NFKD without combining marks, recomposed
by SentencePiece's NFKC normalisation, then its character map), the BERT template and right padding.
Only KoBERT's rare re-split of pieces ending in ``<digit>,`` is not reproduced. A fetched hub backbone
(``emoflow.models.backbone.fetch_pretrained``) is saved with that fast tokenizer, so the folder loads
with plain ``AutoTokenizer.from_pretrained``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ...errors import DataError
from .spm_model import BYTE, CONTROL, PARSE_ERRORS, USER_DEFINED, SpmModel, parse_spm_model

log = logging.getLogger(__name__)

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
_DEFAULT_SPECIAL = {"unk": "[UNK]", "pad": "[PAD]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}
_XLNET_STYLE = {"XLNetTokenizer", "XLNetTokenizerFast", "KoBERTTokenizer"}


# ---------------------------------------------------------------------------------------------
# SentencePiece model -> Hugging Face fast tokenizer (no protobuf dependency)


def _read_unigram(spm_bytes: bytes, source: str, special: dict[str, str]) -> tuple[SpmModel, dict[str, int]]:
    """The parsed model and its piece -> id index; DataError unless it is a unigram model that has
    every special token."""
    try:
        spm = parse_spm_model(spm_bytes)
    except PARSE_ERRORS as exc:
        raise DataError(source, f"cannot read the SentencePiece model ({exc})") from exc
    if spm.model_type != 1:
        raise DataError(source, f"only unigram SentencePiece models are supported "
                                f"(model_type {spm.model_type})")
    index = {p: i for i, (p, _, _) in enumerate(spm.pieces)}
    missing = [tok for tok in special.values() if tok not in index]
    if missing:
        raise DataError(source, f"the SentencePiece vocabulary lacks the special token(s) "
                                f"{', '.join(missing)}")
    return spm, index


def _normalizer(spm: SpmModel, kobert_preprocess: bool, lowercase: bool):
    from tokenizers import Regex, normalizers

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
    return normalizers.Sequence(norms)


def _unigram_tokenizer(spm: SpmModel, index: dict[str, int], special: dict[str, str], normalizer):
    """A ``tokenizers.Tokenizer`` with the model's pieces, Metaspace splitting and the BERT template."""
    from tokenizers import AddedToken, Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import Unigram

    vocab = [(p, s) for p, s, _ in spm.pieces]
    byte_fallback = any(t == BYTE for _, _, t in spm.pieces)
    tok = Tokenizer(Unigram(vocab, unk_id=spm.unk_id, byte_fallback=byte_fallback))
    tok.normalizer = normalizer
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
    specials = list(dict.fromkeys(list(special.values()) + [p for p, _, t in spm.pieces if t == CONTROL]))
    tok.add_special_tokens([AddedToken(p, special=True, normalized=False) for p in specials])
    user = [p for p, _, t in spm.pieces if t == USER_DEFINED and p not in specials]
    if user:
        tok.add_tokens([AddedToken(p, special=False, normalized=False) for p in user])
    return tok


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
    from transformers import PreTrainedTokenizerFast

    special = {**_DEFAULT_SPECIAL, **(special or {})}
    spm, index = _read_unigram(spm_bytes, source, special)
    tok = _unigram_tokenizer(spm, index, special, _normalizer(spm, kobert_preprocess, lowercase))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token=special["unk"],
        pad_token=special["pad"],
        cls_token=special["cls"],
        sep_token=special["sep"],
        mask_token=special["mask"],
        padding_side="right",
        truncation_side="right",
        model_max_length=model_max_length,
    )


# ---------------------------------------------------------------------------------------------
# Loading a tokenizer from a folder


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



def _spiece_tokenizer(folder: Path, cfg: dict):
    """The fast tokenizer of a KoBERT-style folder, converted from its ``spiece.model``."""
    spiece = folder / "spiece.model"
    special = {k: _token_str(cfg.get(f"{k}_token"), d) for k, d in _DEFAULT_SPECIAL.items()}
    max_len = cfg.get("model_max_length")
    max_len = int(max_len) if isinstance(max_len, (int, float)) and max_len < 1e6 else 512
    log.info("%s: SentencePiece tokenizer (class %s) converted to BERT inputs", folder,
             cfg.get("tokenizer_class"))
    return spm_to_fast_tokenizer(
        spiece.read_bytes(),
        source=str(spiece),
        kobert_preprocess=not cfg.get("keep_accents", False),
        lowercase=bool(cfg.get("do_lower_case", False)),
        special=special,
        model_max_length=max_len,
    )


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
    only_spm = not (folder / "tokenizer.json").exists() and not (folder / "vocab.txt").exists()
    if (folder / "spiece.model").is_file() and (cfg.get("tokenizer_class") in _XLNET_STYLE or only_spm):
        tok = _spiece_tokenizer(folder, cfg)
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



def load_tokenizer_for(folder, max_length: int):
    """``load_tokenizer``, refusing a ``max_length`` beyond the model's ``max_position_embeddings``."""
    tokenizer = load_tokenizer(folder)
    limit = load_model_config(folder).get("max_position_embeddings")
    if isinstance(limit, int) and max_length > limit:
        raise DataError(folder, f"text.max_length {max_length} exceeds the model's "
                                f"max_position_embeddings {limit}")
    return tokenizer
