"""Overlapped speech ``(X+Y)`` in transcripts (``text.overlap``), resolved before the ETRI tag policy.

The real forms below are KEMDy19 Session01 transcripts (as listed in the public
DimensionSTP/multimodal-transformer ``path_data/path_data.csv``); X is usually the other speaker's
words that end the previous utterance, Y the speaker's own.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from emoflow import synth
from emoflow.features.text import markup, spm_train, tokenizer, tokens
from emoflow.features.text.markup import OVERLAP_POLICIES, TAG_POLICIES, apply_overlap, clean_text

ROOT = Path(__file__).resolve().parents[1]

# (raw transcript, {overlap policy: cleaned under tag_policy strip})
REAL = [
    ("(그리고+아니) 지금 오타 때문에 아이디어를 탈락 시켰다구요?",
     {"own": "아니 지금 오타 때문에 아이디어를 탈락 시켰다구요?",
      "both": "그리고 아니 지금 오타 때문에 아이디어를 탈락 시켰다구요?",
      "drop": "지금 오타 때문에 아이디어를 탈락 시켰다구요?"}),
    ("(중국집 주인+됐고) o/ 오빠는 내 꿈 안 각 안 궁금해?",
     {"own": "됐고 오빠는 내 꿈 안 각 안 궁금해?", "both": "중국집 주인 됐고 오빠는 내 꿈 안 각 안 궁금해?",
      "drop": "오빠는 내 꿈 안 각 안 궁금해?"}),
    ("(그러면 + u/ 찔리시죠?) 그러면 직접 한번 드셔보시죠.",
     {"own": "찔리시죠? 그러면 직접 한번 드셔보시죠.", "both": "그러면 찔리시죠? 그러면 직접 한번 드셔보시죠.",
      "drop": "그러면 직접 한번 드셔보시죠."}),
    ("(솔직히 할 말 없으시죠+아 윤찬 씨 일단은), 아니 일단은 잠깐 상황을 좀 지켜보자고.",
     {"own": "아 윤찬 씨 일단은, 아니 일단은 잠깐 상황을 좀 지켜보자고.",
      "both": "솔직히 할 말 없으시죠 아 윤찬 씨 일단은, 아니 일단은 잠깐 상황을 좀 지켜보자고.",
      "drop": ", 아니 일단은 잠깐 상황을 좀 지켜보자고."}),
    ("(건데+u/) 너 내가 망가지길 바래? 어?",
     {"own": "너 내가 망가지길 바래? 어?", "both": "건데 너 내가 망가지길 바래? 어?",
      "drop": "너 내가 망가지길 바래? 어?"}),
    # two groups, the second at the end of the utterance
    ("(이 오밤중에+아 맨날) 은서한테만 사랑한다 그러고 누가 낳았냐구 (저렇게 이쁜 딸내미 누가 낳았어+뭘 그런 걸 "
     "물어봐 내가 낳았겠어)",
     {"own": "아 맨날 은서한테만 사랑한다 그러고 누가 낳았냐구 뭘 그런 걸 물어봐 내가 낳았겠어",
      "both": "이 오밤중에 아 맨날 은서한테만 사랑한다 그러고 누가 낳았냐구 저렇게 이쁜 딸내미 누가 낳았어 뭘 그런 걸 "
              "물어봐 내가 낳았겠어",
      "drop": "은서한테만 사랑한다 그러고 누가 낳았냐구"}),
    # mid-utterance
    ("어? (아+다쳤어) 으으으 별거 아니야.",
     {"own": "어? 다쳤어 으으으 별거 아니야.", "both": "어? 아 다쳤어 으으으 별거 아니야.",
      "drop": "어? 으으으 별거 아니야."}),
    ("그래서 (음+근데) 말이야",
     {"own": "그래서 근데 말이야", "both": "그래서 음 근데 말이야", "drop": "그래서 말이야"}),
]


@pytest.mark.parametrize("raw, expected", REAL, ids=[f"real{i}" for i in range(len(REAL))])
@pytest.mark.parametrize("overlap", OVERLAP_POLICIES)
def test_real_forms(raw, expected, overlap):
    assert markup.overlap_status(raw) == "markup"
    assert clean_text(raw, tag_policy="strip", overlap=overlap) == expected[overlap]


def test_drop_removes_the_bracketed_text_never_the_utterance():
    assert clean_text("(네+아니)", tag_policy="strip", overlap="drop") == ""
    seg = pd.DataFrame({"segment_id": ["a", "b"], "split": ["train", "train"], "text": ["(네+아니)", "좋아"]})
    assert spm_train.training_texts(seg, "strip", "drop") == ["", "좋아"]  # still one row per segment


@pytest.mark.parametrize("overlap, strip, token", [
    ("own", "아니 그게", "[BREATH] 아니 그게 [LAUGH]"),
    ("both", "네 아니 그게", "[BREATH] [OVERLAP] 네 아니 그게 [LAUGH]"),
    ("drop", "그게", "[BREATH] 그게 [LAUGH]"),
])
def test_tags_inside_and_around_a_group_follow_the_tag_policy(overlap, strip, token):
    raw = "b/ (o/ 네+아니) 그게 l/"
    assert clean_text(raw, tag_policy="strip", overlap=overlap) == strip
    assert clean_text(raw, tag_policy="token", overlap=overlap) == token


def test_tag_in_own_part_becomes_a_token():
    assert clean_text("(어떡해+u/) o/ 뭘 어떻게 해.", tag_policy="token", overlap="own") == \
        "[UNCLEAR] [OVERLAP] 뭘 어떻게 해."
    # keep leaves the ETRI tags, but the overlap policy still applies
    assert clean_text("(어떡해+u/) o/ 뭘", tag_policy="keep", overlap="own") == "u/ o/ 뭘"


@pytest.mark.parametrize("raw", [
    "(네+아니 그게 아니라",  # never closed
    "네+아니) 그게",  # never opened
    ")(네+아니) 그게 (",  # closed before opened
    "그래서 (음+(근데) 말이야",
])
def test_unbalanced_parentheses_are_left_unchanged_and_counted(raw):
    assert markup.overlap_status(raw) == "unbalanced"
    for overlap in OVERLAP_POLICIES:
        assert apply_overlap(raw, overlap) == raw
        assert clean_text(raw, tag_policy="keep", overlap=overlap) == raw
    assert markup.overlap_counts([raw, "(네+아니) 그게", "좋아"], "own") == {"changed": 1, "unbalanced": 1}


def test_dual_transcription_is_not_an_overlap_group():
    raw = "(1+1)/(일 더하기 일) 이야 (네+아니)"
    assert apply_overlap(raw, "own") == "(1+1)/(일 더하기 일) 이야 아니"
    assert clean_text(raw, tag_policy="strip", overlap="drop") == markup.clean_transcript("(1+1)/(일 더하기 일) 이야")


@pytest.mark.parametrize("raw", ["지섭씨 (무서워)", "어/ 그 그+ 그래   요", "b/ 몰라.  o/ (A)/(B) *", "", "  ",
                                 "(70%)/(칠십 퍼센트) 할인*", "아니 그 난 그 말이 (아니라)"])
def test_transcripts_without_groups_are_byte_identical(raw):
    assert markup.overlap_status(raw) == "none"
    for overlap in OVERLAP_POLICIES:
        assert apply_overlap(raw, overlap) is raw
        for policy in TAG_POLICIES:
            assert clean_text(raw, tag_policy=policy, overlap=overlap) == markup.clean_transcript(raw, policy)


def test_missing_text_and_unknown_policy():
    for missing in (None, float("nan")):
        assert clean_text(missing, tag_policy="strip", overlap="own") == ""
    with pytest.raises(ValueError, match="overlap policy"):
        apply_overlap("(네+아니)", "mine")
    with pytest.raises(ValueError, match="overlap policy"):
        apply_overlap("좋아", "mine")


def test_synthetic_overlap_groups_resolve_to_the_transcript():
    """The generator's transcripts: without a group every overlap policy leaves them to the tag policy; a
    group it writes (``synth.text.add_overlap``: X the other speaker's last words, Y the speaker's own)
    gives back the speaker's transcript under ``own`` (with ``u/`` where the own words were unclear)."""
    from emoflow.synth.text import add_overlap

    for i in range(200):
        rng = np.random.default_rng([7, i])
        prev, raw = (synth.make_text(rng, synth.EMOTIONS[(i + k) % 7]) for k in (3, 0))
        assert "+" not in raw and "(" not in raw
        for policy in TAG_POLICIES:
            assert clean_text(raw, tag_policy=policy, overlap="own") == markup.clean_transcript(raw, policy)
        marked = add_overlap(rng, raw, prev if i % 2 else None)
        own = apply_overlap(marked, "own")
        assert own == raw or own.replace(" u/", "", 1).replace("u/ ", "", 1) == raw
        assert apply_overlap(marked, "drop") != marked and "+" not in apply_overlap(marked, "both")


# ------------------------------------------------------------------------------------------------
# The pipeline: tokenizer training texts and token ids use the same cleaning; counts in log and QC


def _segments() -> pd.DataFrame:
    texts = [raw for raw, _ in REAL] + ["b/ 좋아 오늘 날씨가 좋다", "(네+아니 그게", "좋아 오늘 날씨"] * 2
    return pd.DataFrame({"segment_id": [f"Sess01_script01_M{i:03d}" for i in range(len(texts))],
                         "split": ["train", "test"] * (len(texts) // 2) + ["train"] * (len(texts) % 2),
                         "text": texts})


def test_training_texts_and_token_ids_share_the_cleaning(caplog):
    seg = _segments()
    with caplog.at_level(logging.INFO, logger="emoflow.features.text.spm_train"):
        texts = spm_train.training_texts(seg, "token", "own")
    train = seg[seg["split"] == "train"].sort_values("segment_id")
    assert texts == [clean_text(t, tag_policy="token", overlap="own") for t in train["text"]]
    assert not any("(" in t and "+" in t for t in texts[:4])
    assert "overlap policy 'own' changed" in caplog.text

    tok = tokenizer.spm_to_fast_tokenizer(spm_train.train_spm(texts * 5, 300), source="test")
    with caplog.at_level(logging.INFO, logger="emoflow.features.text.tokens"):
        features, qc = tokens.tokenize_segments(seg, tok, tag_policy="token", overlap="own", max_length=48)
    for i, raw in enumerate(seg["text"]):
        want = tok(clean_text(raw, tag_policy="token", overlap="own"), padding="max_length", max_length=48,
                   truncation=True)["input_ids"]
        assert list(features.loc[i, "input_ids"]) == want
    n_markup = len(REAL)
    assert f"overlap policy 'own' changed {n_markup} transcripts" in caplog.text
    notes = qc[qc["status"] == "note"].set_index("reason")["n_segments"].to_dict()
    assert notes["overlap_own"] == n_markup and notes["overlap_unbalanced"] == 2


def test_qc_has_no_overlap_notes_without_markup():
    seg = _segments()
    seg = seg[seg["text"].map(markup.overlap_status) == "none"].reset_index(drop=True)
    tok = tokenizer.spm_to_fast_tokenizer(spm_train.train_spm(list(seg["text"]) * 5, 200), source="test")
    _, qc = tokens.tokenize_segments(seg, tok, tag_policy="strip", overlap="drop", max_length=16)
    assert set(qc.loc[qc["status"] == "note", "reason"]) == {"empty_transcript", "truncated"}


def test_config_schema_and_rules_pass_the_policy():
    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    entry = schema["properties"]["text"]["properties"]["overlap"]
    assert entry["enum"] == list(OVERLAP_POLICIES) and entry["default"] == "own"
    assert yaml.safe_load((ROOT / "config.yaml").read_text())["text"]["overlap"] == "own"
    rules = (ROOT / "workflow" / "rules" / "features.smk").read_text()
    # build_text_backbone, text_features and text_morphemes (the tfidf encoder's tokens)
    assert rules.count('overlap=config["text"]["overlap"]') == 3
