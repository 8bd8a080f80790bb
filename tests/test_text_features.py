"""Text stage: markup policy, tokenizer trained on the training split, backbone folder, token ids."""

from __future__ import annotations

import hashlib
import json
import runpy
import subprocess
import sys
import unicodedata
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from emoflow.errors import DataError
from emoflow.features.text import markup, spm_train, tokenizer, tokens
from emoflow.models import backbone as B

SRC = Path(__file__).resolve().parents[1] / "workflow" / "src"
SCRIPTS = SRC.parent / "scripts"
BACKBONE = {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64}
MAX_LENGTH = 24

TRAIN_WORDS = ("어 저 지금 사람 친 거야 맞지 그치 몰라 아 어떡해 친구들도 "
               "오늘 날씨가 좋다 나는 학교에 간다 밥을 먹었어").split()
TRAIN_ONLY = "가나다라마바"  # frequent in train: must become one piece (positive control)
TEST_ONLY = "꿻뷁퓝쀍"  # as frequent, but only in test transcripts: must not be learnt
VAL_ONLY = "쫣뙔흫"  # only in validation transcripts: must not be learnt either


def _segments(n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        split = ("train", "val", "test")[i % 3]
        words = list(rng.choice(TRAIN_WORDS, 6))
        special = {"train": TRAIN_ONLY, "val": VAL_ONLY, "test": TEST_ONLY}[split]
        # varied positions (SentencePiece only proposes pieces that are repeats in varied contexts)
        pos = (3, 6)[(i // 3) % 2]
        text = " ".join(words[:pos] + [special] + words[pos:])
        if i % 5 == 0:
            text = "b/ " + text + " l/"
        rows.append({"segment_id": f"Sess01_script01_M{i:03d}", "session": "Session01", "split": split,
                     "text": text})
    return pd.DataFrame(rows)


def _build(out: Path, seg_path: Path, seed: int = 0, tag_policy: str = "token") -> None:
    built = B.build_backbone(pd.read_parquet(seg_path), vocab_size=1000, tag_policy=tag_policy, overlap="own",
                             max_length=MAX_LENGTH, backbone=BACKBONE, seed=seed, source=seg_path)
    B.save_backbone(built, out)


def _text_script(tmp_path: Path, seg_path: Path, folder: Path, max_missing: float = 0.05,
                 max_length: int = MAX_LENGTH) -> SimpleNamespace:
    """Run the text_features script; its outputs (features, qc) and log."""
    smk = SimpleNamespace(
        input=SimpleNamespace(segments=str(seg_path), backbone=str(folder), code=[]),
        output=SimpleNamespace(features=str(tmp_path / "features" / "text.parquet"),
                               qc=str(tmp_path / "qc" / "text.tsv")),
        params=SimpleNamespace(tag_policy="strip", overlap="own", max_length=max_length, max_missing=max_missing),
        log=[str(tmp_path / "text_features.log")], threads=1, rule="text_features", scriptdir=str(SCRIPTS),
    )
    runpy.run_path(str(SCRIPTS / "text_features.py"), init_globals={"snakemake": smk})
    return smk


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("text")
    seg = _segments()
    seg_path = root / "segments.parquet"
    seg.to_parquet(seg_path)
    _build(root / "backbone", seg_path)
    return root, seg_path, root / "backbone"


# ------------------------------------------------------------------------------------------------
# markup policy


@pytest.mark.parametrize("raw, expected", [
    ("b/ 몰라. o/ b/ 아 몰라 어떡해. o/", "몰라. 아 몰라 어떡해."),
    ("n/ 아 친구들도? l/", "아 친구들도?"),
    ("N/ u/ c/ s/ 그래", "그래"),
    ("(70%)/(칠십 퍼센트) 할인*", "70% 할인"),
    ("어/ 그 그+ 그래   요", "어 그 그 그래 요"),
    ("b/", ""),
    ("b/몰라", "몰라"),
])
def test_strip_policy(raw, expected):
    assert markup.clean_transcript(raw, "strip") == expected


def test_strip_is_default_and_handles_missing_text():
    assert markup.clean_transcript("l/ 하하 b/") == "하하"
    assert markup.clean_transcript(None) == ""
    assert markup.clean_transcript(float("nan")) == ""


def test_keep_policy_is_identity():
    raw = "b/ 몰라.  o/ (A)/(B) *"
    assert markup.clean_transcript(raw, "keep") == raw


@pytest.mark.parametrize("tag", sorted(markup.TAG_TOKENS))
def test_token_policy_maps_every_tag(tag):
    assert markup.clean_transcript(f"아 {tag}/ 몰라", "token") == f"아 {markup.TAG_TOKENS[tag]} 몰라"


def test_token_policy_full_example():
    raw = "b/ 몰라. l/ (2시)/(두 시)에* 봐 n/"
    assert markup.clean_transcript(raw, "token") == "[BREATH] 몰라. [LAUGH] 2시에 봐 [NOISE]"


def test_latin_words_ending_in_tag_letter_are_not_tags():
    assert "[BREATH]" not in markup.clean_transcript("job/ 어", "token")
    assert markup.clean_transcript("job/ 어", "strip") == "job 어"


def test_unknown_policy_rejected():
    with pytest.raises(ValueError, match="tag policy"):
        markup.clean_transcript("아", "drop")


# ------------------------------------------------------------------------------------------------
# local backbone


def test_tokenizer_learns_from_training_split_only(built):
    _, _, folder = built
    tok = tokenizer.load_tokenizer(folder)
    vocab = tok.get_vocab()
    # Positive control: a word as frequent as the held-out ones, but in train, is one piece.
    assert "▁" + TRAIN_ONLY in vocab
    assert tok.tokenize(TRAIN_ONLY) == ["▁" + TRAIN_ONLY]
    for held_out in (TEST_ONLY, VAL_ONLY):
        assert not any(ch in piece for piece in vocab for ch in held_out), held_out
        assert tok.unk_token_id in tok(held_out, add_special_tokens=False)["input_ids"]


def test_training_texts_are_cleaned_train_rows():
    seg = _segments(30)
    texts = spm_train.training_texts(seg, "strip", "own")
    assert len(texts) == 10
    assert not any("b/" in t or "l/" in t or TEST_ONLY in t or VAL_ONLY in t for t in texts)


def test_vocab_size_is_an_upper_bound_and_rare_characters_become_unk():
    rng = np.random.default_rng(2)
    chars = [chr(0xAC00 + i) for i in range(600)]  # 600 distinct syllables, Zipf-like frequencies
    p = 1.0 / np.arange(1, 601)
    p /= p.sum()
    texts = [" ".join("".join(rng.choice(chars, 2, p=p)) for _ in range(6)) for _ in range(800)]
    tok = tokenizer.spm_to_fast_tokenizer(spm_train.train_spm(texts, 200), source="test")
    assert len(tok) <= 200
    vocab = tok.get_vocab()
    assert chars[0] in vocab or "▁" + chars[0] in vocab  # the most frequent character is kept
    rarest = chars[-1] if any(chars[-1] in t for t in texts) else next(c for c in reversed(chars)
                                                                       if any(c in t for t in texts))
    assert tok.unk_token_id in tok(rarest, add_special_tokens=False)["input_ids"]
    # a small corpus gives fewer pieces than asked for instead of failing
    small_model = spm_train.train_spm(["아 몰라", "몰라 아"] * 5, 5000)
    small = tokenizer.spm_to_fast_tokenizer(small_model, source="test")
    assert len(small) < 100


def test_backbone_folder_loads_with_auto_classes(built):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    _, _, folder = built
    tok = AutoTokenizer.from_pretrained(folder)
    enc = tok(["아 몰라", "[LAUGH] 좋다 " + TRAIN_ONLY], padding="max_length", max_length=MAX_LENGTH,
              truncation=True, return_tensors="pt")
    ids = enc["input_ids"]
    assert ids[0, 0].item() == tok.cls_token_id == 2
    assert tok.convert_ids_to_tokens(ids[0, :4].tolist()) == ["[CLS]", "▁아", "▁몰라", "[SEP]"]
    assert ids[0, -1].item() == tok.pad_token_id == 0  # right padding
    assert tok.convert_ids_to_tokens(ids[1, 1].item()) == "[LAUGH]"  # markup token is one piece
    assert tok.all_special_tokens[:1] and set(tokenizer.SPECIAL_TOKENS) <= set(tok.get_vocab())

    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=7)
    cfg = model.config
    assert cfg.vocab_size == len(tok)
    assert cfg.hidden_size == 32 and cfg.num_hidden_layers == 1 and cfg.num_attention_heads == 2
    assert cfg.max_position_embeddings >= MAX_LENGTH
    with torch.no_grad():
        logits = model(**enc).logits
    assert logits.shape == (2, 7)
    assert (folder / "model.safetensors").exists()


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_backbone_is_byte_identical_across_processes(built, tmp_path):
    _, seg_path, folder = built
    other = tmp_path / "again"
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import pandas as pd; from emoflow.models import backbone as B;"
        "B.save_backbone(B.build_backbone(pd.read_parquet(sys.argv[2]), vocab_size=1000, "
        f"tag_policy='token', overlap='own', max_length={MAX_LENGTH}, backbone={BACKBONE!r}, seed=0), sys.argv[3])"
    )
    subprocess.run([sys.executable, "-c", code, str(SRC), str(seg_path), str(other)], check=True,
                   capture_output=True, timeout=300)
    assert _digests(other) == _digests(folder)
    expected = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}
    assert expected <= set(_digests(folder))

    reseeded = tmp_path / "seed1"
    _build(reseeded, seg_path, seed=1)
    d0, d1 = _digests(folder), _digests(reseeded)
    assert d1["model.safetensors"] != d0["model.safetensors"]
    assert d1["tokenizer.json"] == d0["tokenizer.json"]


def test_build_rejects_segments_without_training_text(tmp_path):
    seg = _segments(9)
    seg["split"] = "test"
    seg.to_parquet(tmp_path / "s.parquet")
    with pytest.raises(DataError, match="training"):
        _build(tmp_path / "bb", tmp_path / "s.parquet")


# ------------------------------------------------------------------------------------------------
# token ids


def test_text_parquet_every_segment_padded_and_flagged(built, tmp_path, restore_logging):
    _, _, folder = built
    seg = _segments(12).sample(frac=1.0, random_state=1).reset_index(drop=True)
    seg.loc[0, "text"] = "b/ l/"  # empty after cleaning: usable, counted
    seg.loc[1, "text"] = " ".join(["어 저 지금 사람"] * 20)  # longer than max_length: truncated
    seg_path = tmp_path / "segments.parquet"
    seg.to_parquet(seg_path)
    smk = _text_script(tmp_path, seg_path, folder)
    out, qc_path = smk.output.features, smk.output.qc

    table = pq.read_table(out)
    assert table.schema.field("input_ids").type == pa.list_(pa.int32())
    assert table.schema.field("attention_mask").type == pa.list_(pa.int8())
    df = table.to_pandas()
    assert sorted(df["segment_id"]) == sorted(seg["segment_id"])
    ids = np.stack(df["input_ids"].to_list())
    mask = np.stack(df["attention_mask"].to_list())
    assert ids.shape == mask.shape == (12, MAX_LENGTH)
    tok = tokenizer.load_tokenizer(folder)
    assert (ids[:, 0] == tok.cls_token_id).all()
    assert ((ids == tok.pad_token_id) == (mask == 0)).all()

    by_id = df.set_index("segment_id")
    empty = by_id.loc[seg.loc[0, "segment_id"]]
    assert empty["ok"] and empty["empty"]
    assert list(empty["input_ids"][:3]) == [tok.cls_token_id, tok.sep_token_id, tok.pad_token_id]
    long = by_id.loc[seg.loc[1, "segment_id"]]
    assert long["truncated"] and long["n_tokens"] > MAX_LENGTH and long["attention_mask"].sum() == MAX_LENGTH
    assert long["input_ids"][-1] == tok.sep_token_id
    assert by_id["truncated"].sum() == 1 and by_id["empty"].sum() == 1

    # the same transcript gives the same ids wherever it sits in the table (joined by segment_id)
    sid = seg.loc[5, "segment_id"]
    direct = tok(markup.clean_transcript(seg.loc[5, "text"], "strip"), padding="max_length",
                 max_length=MAX_LENGTH, truncation=True)["input_ids"]
    assert list(by_id.loc[sid, "input_ids"]) == direct

    qc = pd.read_csv(qc_path, sep="\t", keep_default_na=False)
    assert list(qc.columns) == ["modality", "status", "reason", "n_segments", "fraction"]
    usable = qc[qc["status"] == "usable"]
    assert usable["n_segments"].tolist() == [12]
    notes = qc[qc["status"] == "note"].set_index("reason")["n_segments"].to_dict()
    assert notes == {"empty_transcript": 1, "truncated": 1}


def test_missing_transcripts_count_against_the_limit(built, tmp_path, restore_logging):
    _, _, folder = built
    seg = _segments(10)
    seg.loc[[2, 7], "text"] = None
    seg.to_parquet(tmp_path / "s.parquet")
    features, _ = tokens.tokenize_segments(seg, tokenizer.load_tokenizer(folder), tag_policy="strip",
                                           overlap="own", max_length=MAX_LENGTH)
    assert (~features["ok"]).sum() == 2
    with pytest.raises(SystemExit):  # the script stops on the QCError, naming the modality
        _text_script(tmp_path, tmp_path / "s.parquet", folder, max_missing=0.1)
    log_text = (tmp_path / "text_features.log").read_text()
    assert "QCError" not in log_text and "ERROR in rule text_features: text" in log_text
    assert not (tmp_path / "features" / "text.parquet").exists()
    smk = _text_script(tmp_path, tmp_path / "s.parquet", folder, max_missing=0.5)
    df = pd.read_parquet(smk.output.features)
    assert (~df["ok"]).sum() == 2 and set(df.loc[~df["ok"], "reason"]) == {"missing_transcript"}


def test_max_length_beyond_position_embeddings_is_refused(built):
    _, _, folder = built
    with pytest.raises(DataError, match="max_position_embeddings"):
        tokenizer.load_tokenizer_for(folder, MAX_LENGTH * 2)
    assert tokenizer.load_tokenizer_for(folder, MAX_LENGTH).cls_token_id == 2


# ------------------------------------------------------------------------------------------------
# hub backbones: KoBERT-style SentencePiece folders, fetching, unreachable hub


def _kobert_like(folder: Path) -> Path:
    """A folder shaped like skt/kobert-base-v1: spiece.model + XLNetTokenizer config + BERT weights."""
    import sentencepiece as spm
    from transformers import BertConfig, BertModel

    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    lines = [" ".join(rng.choice(TRAIN_WORDS + ["한국어", "모델을", "공유합니다."], 7)) for _ in range(300)]
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_prefix=str(folder / "spiece"), vocab_size=60,
        model_type="unigram", hard_vocab_limit=False, num_threads=1, minloglevel=2,
        unk_id=0, unk_piece="[UNK]", pad_id=1, pad_piece="[PAD]", bos_id=2, bos_piece="[CLS]",
        eos_id=3, eos_piece="[SEP]", user_defined_symbols=["[MASK]"])
    (folder / "spiece.vocab").unlink()
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "do_lower_case": False, "remove_space": True, "keep_accents": False, "bos_token": "[CLS]",
        "eos_token": "[SEP]", "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
        "cls_token": "[CLS]", "mask_token": {"content": "[MASK]", "lstrip": True, "rstrip": False,
                                             "normalized": True, "single_word": False},
        "tokenizer_class": "XLNetTokenizer"}))
    import torch

    torch.manual_seed(0)
    n = spm.SentencePieceProcessor(model_file=str(folder / "spiece.model")).get_piece_size()
    config = BertConfig(vocab_size=n, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, pad_token_id=1)
    BertModel(config).save_pretrained(folder)
    return folder


def _kobert_reference(folder: Path, text: str) -> list[int]:
    """What KoBERTTokenizer does: XLNet preprocessing, SentencePiece ids, [CLS] x [SEP]."""
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(folder / "spiece.model"))
    t = " ".join(text.strip().split()).replace("``", '"').replace("''", '"')
    t = "".join(c for c in unicodedata.normalize("NFKD", t) if not unicodedata.combining(c))
    return [2] + sp.encode(t) + [3]


SAMPLES = ["한국어 모델을 공유합니다.", "  어 저   지금 사람 친 거야? ", "café ``quoted'' 날씨가", "ＡＢＣ 몰라",
           "벚꽃 ㄱㄴ 학교에간다", "", "친구들도\t밥을"]


@pytest.fixture(scope="module")
def kobert_folder(tmp_path_factory):
    return _kobert_like(tmp_path_factory.mktemp("hub") / "kobert")


def test_kobert_style_folder_gives_bert_inputs_matching_sentencepiece(kobert_folder):
    tok = tokenizer.load_tokenizer(kobert_folder)
    for s in SAMPLES:
        assert tok(s)["input_ids"] == _kobert_reference(kobert_folder, s), s
    batch = tok(["아", "한국어 모델을"], padding=True)
    assert batch["input_ids"][0][-1] == tok.pad_token_id == 1  # right padding, KoBERT's [PAD] id
    assert tok.cls_token_id == 2 and tok.sep_token_id == 3


def test_fetch_pretrained_saves_a_folder_that_autotokenizer_loads(kobert_folder, tmp_path, monkeypatch):
    import shutil

    import huggingface_hub
    from transformers import AutoModel, AutoTokenizer

    calls = []

    def fake_download(repo_id, revision=None, local_dir=None, **kwargs):
        calls.append((repo_id, revision))
        shutil.copytree(kobert_folder, local_dir, dirs_exist_ok=True)
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    out = tmp_path / "resources" / "pretrained" / "skt__kobert-base-v1"
    B.fetch_pretrained("skt/kobert-base-v1", out, revision="abc123")
    assert calls == [("skt/kobert-base-v1", "abc123")]
    tok = AutoTokenizer.from_pretrained(out)
    for s in SAMPLES:
        assert tok(s)["input_ids"] == _kobert_reference(kobert_folder, s), s
    assert AutoModel.from_pretrained(out).config.vocab_size == len(tok)
    assert not any(p.name.startswith(".") for p in out.parent.iterdir())  # no temporary leftovers


def test_unreachable_hub_tells_how_to_prefetch(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    out = tmp_path / "pretrained" / "skt__kobert-base-v1"
    with pytest.raises(DataError) as err:
        B.fetch_pretrained("skt/kobert-base-v1", out)
    msg = str(err.value)
    assert "text.pretrained" in msg and "hf download skt/kobert-base-v1" in msg
    assert not out.exists()


def test_tokenizer_with_xlnet_layout_is_refused(built, tmp_path):
    from tokenizers import processors

    _, _, folder = built
    tok = tokenizer.load_tokenizer(folder)
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single="$A [SEP] [CLS]", special_tokens=[("[SEP]", tok.sep_token_id), ("[CLS]", tok.cls_token_id)])
    tok.save_pretrained(tmp_path / "xlnet_like")
    with pytest.raises(DataError, match=r"\[CLS\] x \[SEP\]"):
        tokenizer.load_tokenizer(tmp_path / "xlnet_like")


def test_bad_sentencepiece_model_and_missing_folder_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="SentencePiece"):
        tokenizer.spm_to_fast_tokenizer(b"\x0a\x05junk", source="x/spiece.model")
    with pytest.raises(DataError, match="does not exist"):
        tokenizer.load_tokenizer(tmp_path / "nowhere")
