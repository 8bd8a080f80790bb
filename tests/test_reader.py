"""KEMDy19 reader: annotation parsing, the speaker-perspective index and its exclusions."""

from __future__ import annotations

import json
import runpy
import wave
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from emoflow.errors import DataError
from emoflow.reader import EXCLUDED_COLUMNS, SEGMENT_COLUMNS, build_index, index_dataset, read_annotation

ROOT = Path(__file__).resolve().parents[1]
RATERS = ["Eval01F", "Eval02M", "Eval03F", "Eval04F", "Eval05M",
          "Eval06M", "Eval07M", "Eval08F", "Eval09M", "Eval10F"]
HEADER1 = ["Numb", "Wav", "", "ECG", "", "E4-EDA", "", "E4-TEMP", "", "Segment ID",
           "Total Evaluation", "", ""]
HEADER1 += [c for r in RATERS for c in (r, "", "")]
HEADER2 = ["", "start", "end", "start", "end", "start", "end", "start", "end", "",
           "Emotion", "Valence", "Arousal"]
HEADER2 += ["Emotion", "Valence", "Arousal"] * len(RATERS)
assert len(HEADER1) == len(HEADER2) == 43

# The label the *other* participant's file gives every utterance: never the one the index must keep.
LISTENER_LABEL = "fear"


# ----------------------------------------------------------------------------------------------------
# Fixture builder: a minimal KEMDy19 folder (annotation pair + wav/txt per utterance)
# ----------------------------------------------------------------------------------------------------
def utt(segment_id, emotion="neutral", text="어 지금 사람 친 거야?", valence=3.0, arousal=2.5,
        encoding="utf-8"):
    return {"id": segment_id, "emotion": emotion, "text": text, "valence": valence, "arousal": arousal,
            "encoding": encoding}


DEFAULT_UTTS = [
    utt("Sess01_script01_M001", "surprise", valence=1.7, arousal=4.0),
    utt("Sess01_script01_F001", "happy", text="b/ 몰라. o/ 아 몰라 어떡해."),
    utt("Sess01_script01_M002", "angry"),
    utt("Sess01_script01_F002", "sad"),
    utt("Sess01_impro01_M001", "neutral", text="n/ 아 친구들도? l/"),
    utt("Sess01_impro01_F001", "neutral"),
]


def ann_row(numb, segment_id, emotion, valence=3.0, arousal=3.0, start=None):
    start = 2.0 * numb if start is None else start
    return ([str(numb), f"{start:.3f}", f"{start + 1.5:.3f}", "-0.144", "-0.028", "0.145914", "0.145914",
             "30.69", "30.69", segment_id, emotion, f"{valence:g}", f"{arousal:g}"]
            + ["neutral", "3", "3"] * len(RATERS))


def write_csv(path: Path, rows: list[list[str]], newline="\n", bom=False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = newline.join(",".join(r) for r in rows) + newline
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def write_wav(path: Path, n=160):
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x01" * n)


def media_paths(root: Path, segment_id: str) -> tuple[Path, Path]:
    sess, kind = segment_id.split("_")[:2]
    folder = root / "wav" / f"Session{sess[4:]}" / f"{sess}_{kind}"
    return folder / f"{segment_id}.wav", folder / f"{segment_id}.txt"


def make_kemdy19(root: Path, session="Session01", utts=None, *, f_ids=None, m_ids=None, rows_edit=None,
                 no_wav=(), no_txt=(), newline="\n", bom=False) -> Path:
    """Write annotation/{session}_{F,M}_res.csv and the wav/txt files of ``utts``.

    Both files list every utterance (same Numb, times, ids); the speaker's own file carries the
    utterance's emotion, the other file LISTENER_LABEL. ``f_ids``/``m_ids`` ({numb: id}) override the id
    one file gives a row; ``rows_edit(gender, rows)`` edits the data rows before writing.
    """
    utts = DEFAULT_UTTS if utts is None else utts
    for g, override in (("F", f_ids or {}), ("M", m_ids or {})):
        rows = []
        for numb, u in enumerate(utts, start=1):
            own = u["id"].split("_")[-1][0] == g
            rows.append(ann_row(numb, override.get(numb, u["id"]), u["emotion"] if own else LISTENER_LABEL,
                                u["valence"] if own else 5.0, u["arousal"] if own else 5.0))
        if rows_edit:
            rows_edit(g, rows)
        write_csv(root / "annotation" / f"{session}_{g}_res.csv", [HEADER1, HEADER2] + rows, newline, bom)
    for u in utts:
        wav, txt = media_paths(root, u["id"])
        if u["id"] not in no_wav:
            write_wav(wav)
        if u["id"] not in no_txt:
            txt.parent.mkdir(parents=True, exist_ok=True)
            txt.write_bytes((u["text"] + "\n").encode(u["encoding"]))
    return root


def excluded_reasons(excluded: pd.DataFrame) -> dict[str, str]:
    return dict(zip(excluded["segment_id"], excluded["reason"]))


# ----------------------------------------------------------------------------------------------------
# read_annotation
# ----------------------------------------------------------------------------------------------------
def test_read_annotation_columns_and_values(tmp_path):
    make_kemdy19(tmp_path)
    df = read_annotation(tmp_path / "annotation" / "Session01_M_res.csv")
    for c in ["numb", "wav_start", "wav_end", "ecg_start", "ecg_end", "eda_start", "eda_end", "temp_start",
              "temp_end", "segment_id", "emotion_raw", "valence", "arousal", "line", "eval01f_emotion"]:
        assert c in df.columns
    assert df["numb"].tolist() == [1, 2, 3, 4, 5, 6]
    assert df["line"].tolist() == [3, 4, 5, 6, 7, 8]
    first = df.iloc[0]
    assert first["segment_id"] == "Sess01_script01_M001"
    assert first["emotion_raw"] == "surprise"
    assert (first["valence"], first["arousal"]) == (1.7, 4.0)
    assert (first["wav_start"], first["wav_end"]) == (2.0, 3.5)
    assert first["ecg_start"] == "-0.144" and first["temp_end"] == "30.69"  # unused: read as text
    assert df.iloc[1]["emotion_raw"] == LISTENER_LABEL  # F001 in the M file: the listener's view


def test_crlf_lf_and_bom_read_the_same(tmp_path):
    frames = []
    for i, (newline, bom) in enumerate([("\n", False), ("\r\n", False), ("\r\n", True), ("\n", True)]):
        root = make_kemdy19(tmp_path / str(i), newline=newline, bom=bom)
        raw = (root / "annotation" / "Session01_F_res.csv").read_bytes()
        assert (b"\r\n" in raw) == (newline == "\r\n") and raw.startswith(b"\xef\xbb\xbf") == bom
        frames.append(read_annotation(root / "annotation" / "Session01_F_res.csv"))
    for df in frames[1:]:
        pd.testing.assert_frame_equal(df, frames[0])
    assert frames[0]["segment_id"].iloc[-1] == "Sess01_impro01_F001"  # no stray \r in the last cell


def test_header_names_match_case_insensitively(tmp_path):
    h1 = [c.upper() for c in HEADER1]
    h2 = [c.lower() for c in HEADER2]
    path = write_csv(tmp_path / "x.csv", [h1, h2, ann_row(1, "Sess01_script01_M001", "happy")])
    df = read_annotation(path)
    assert df["segment_id"].tolist() == ["Sess01_script01_M001"] and df["emotion_raw"].tolist() == ["happy"]


@pytest.mark.parametrize("drop, shown", [("Segment ID", "Segment ID"),
                                         ("Total Evaluation", "Total Evaluation/Emotion"),
                                         ("E4-EDA", "E4-EDA/Start")])
def test_missing_column_names_file_and_column(tmp_path, drop, shown):
    h1 = ["Renamed" if c == drop else c for c in HEADER1]
    rows = [h1, HEADER2, ann_row(1, "Sess07_script01_M001", "sad")]
    path = write_csv(tmp_path / "Session07_F_res.csv", rows)
    with pytest.raises(DataError) as e:
        read_annotation(path)
    assert "Session07_F_res.csv" in str(e.value) and f"missing column '{shown}'" in str(e.value)


def test_missing_sub_column(tmp_path):
    h2 = ["Mood" if c == "Valence" else c for c in HEADER2[:13]] + HEADER2[13:]
    path = write_csv(tmp_path / "a.csv", [HEADER1, h2, ann_row(1, "Sess01_script01_M001", "sad")])
    with pytest.raises(DataError, match="missing column 'Total Evaluation/Valence'"):
        read_annotation(path)


def test_extra_header_row_is_an_error(tmp_path):
    rows = [HEADER1, HEADER2, HEADER2, ann_row(1, "Sess01_script01_M001", "sad")]
    path = write_csv(tmp_path / "a.csv", rows)
    with pytest.raises(DataError, match="expected 2 header rows, found a third header-like row at line 3"):
        read_annotation(path)
    # a header repeated further down (two files concatenated) is caught too
    rows = [HEADER1, HEADER2, ann_row(1, "Sess01_script01_M001", "sad"), HEADER1, HEADER2,
            ann_row(2, "Sess01_script01_F001", "sad")]
    with pytest.raises(DataError, match="header-like row at line 4"):
        read_annotation(write_csv(tmp_path / "b.csv", rows))


def test_single_header_row_is_an_error(tmp_path):
    path = write_csv(tmp_path / "a.csv", [HEADER1, ann_row(1, "Sess01_script01_M001", "sad")])
    with pytest.raises(DataError, match="expected 2 header rows, found 1"):
        read_annotation(path)


def test_short_row_is_an_error(tmp_path):
    rows = [HEADER1, HEADER2] + [ann_row(i, f"Sess01_script01_M{i:03d}", "sad") for i in range(1, 18)]
    rows[-1] = rows[-1][:41]
    path = write_csv(tmp_path / "a.csv", rows)
    with pytest.raises(DataError, match=r"data row 17 \(line 19\): 41 fields, expected 43") as e:
        read_annotation(path)
    assert str(path) in str(e.value)


def test_non_numeric_values_are_errors(tmp_path):
    rows = [HEADER1, HEADER2] + [ann_row(i, f"Sess01_script01_M{i:03d}", "sad") for i in range(1, 6)]
    rows[-1][11] = "x"
    with pytest.raises(DataError, match=r"non-numeric valence 'x' at data row 5 \(line 7\)"):
        read_annotation(write_csv(tmp_path / "a.csv", rows))
    rows[-1][11] = "3"
    rows[2][0] = "abc"
    with pytest.raises(DataError, match="non-numeric Numb 'abc' at data row 1"):
        read_annotation(write_csv(tmp_path / "b.csv", rows))


def test_empty_bio_cells_are_empty_text_and_repeated_numb_is_an_error(tmp_path):
    rows = [HEADER1, HEADER2, ann_row(1, "Sess01_script01_M001", "sad"),
            ann_row(2, "Sess01_script01_F001", "sad")]
    rows[3][5:9] = ["", "", "", ""]
    df = read_annotation(write_csv(tmp_path / "a.csv", rows))
    assert (df[["eda_start", "eda_end", "temp_start", "temp_end"]].iloc[1] == "").all()
    assert df["eda_start"].iloc[0] == "0.145914"
    rows[3][0] = "1"
    with pytest.raises(DataError, match=r"Numb 1 appears on several rows \(lines 3, 4\)"):
        read_annotation(write_csv(tmp_path / "b.csv", rows))


# ----------------------------------------------------------------------------------------------------
# build_index
# ----------------------------------------------------------------------------------------------------
def test_index_takes_each_speaker_from_its_own_file(tmp_path):
    make_kemdy19(tmp_path)
    seg, excl, summary = build_index(tmp_path, ["Session01"], "first")
    assert list(seg.columns) == SEGMENT_COLUMNS and list(excl.columns) == EXCLUDED_COLUMNS
    assert excl.empty
    assert seg["segment_id"].tolist() == sorted(u["id"] for u in DEFAULT_UTTS)
    truth = {u["id"]: u for u in DEFAULT_UTTS}
    for _, r in seg.iterrows():
        u = truth[r["segment_id"]]
        assert r["emotion"] == u["emotion"] and r["emotion_raw"] == u["emotion"]  # never LISTENER_LABEL
        assert (r["valence"], r["arousal"]) == (u["valence"], u["arousal"])
        assert r["text"] == u["text"]
        assert r["speaker"] == r["segment_id"].split("_")[-1][0]
        assert r["session"] == "Session01"
        assert r["dialogue"] == r["segment_id"].split("_")[1]
        assert not Path(r["wav_path"]).is_absolute() and "\\" not in r["wav_path"]
        assert (tmp_path / r["wav_path"]).is_file() and (tmp_path / r["txt_path"]).is_file()
    m001 = seg.set_index("segment_id").loc["Sess01_script01_M001"]
    assert m001["wav_path"] == "wav/Session01/Sess01_script01/Sess01_script01_M001.wav"
    assert m001["txt_path"] == "wav/Session01/Sess01_script01/Sess01_script01_M001.txt"
    assert (m001["start"], m001["end"]) == (2.0, 3.5)
    assert summary["segments"] == 6 and summary["annotation_rows_read"] == 12 and summary["speaker_rows"] == 6
    assert summary["per_emotion"]["neutral"] == 2 and summary["per_speaker"] == {"F": 3, "M": 3}
    assert summary["transcript_encodings"] == {"utf-8": 6}
    json.dumps(summary)  # JSON-ready


def test_utf8_and_cp949_transcripts(tmp_path):
    utts = [utt("Sess01_script01_M001", text="안녕하세요 b/", encoding="utf-8"),
            utt("Sess01_script01_F001", text="어 저 지그 지금 사람 친 거야?", encoding="cp949")]
    make_kemdy19(tmp_path, utts=utts)
    raw = media_paths(tmp_path, "Sess01_script01_F001")[1].read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    seg, _, summary = build_index(tmp_path, ["Session01"], "first")
    texts = dict(zip(seg["segment_id"], seg["text"]))
    assert texts == {"Sess01_script01_M001": "안녕하세요 b/",
                     "Sess01_script01_F001": "어 저 지그 지금 사람 친 거야?"}
    assert summary["transcript_encodings"] == {"cp949": 1, "utf-8": 1}


def test_empty_transcript_is_kept(tmp_path):
    utts = DEFAULT_UTTS[:2] + [utt("Sess01_script01_M002", text="")]
    make_kemdy19(tmp_path, utts=utts)
    seg, excl, summary = build_index(tmp_path, ["Session01"], "first")
    assert excl.empty and len(seg) == 3
    assert seg.set_index("segment_id").at["Sess01_script01_M002", "text"] == ""
    assert summary["empty_transcripts"] == 1


def test_missing_wav_and_txt_are_excluded(tmp_path):
    make_kemdy19(tmp_path, no_wav={"Sess01_script01_M002"}, no_txt={"Sess01_impro01_F001"})
    seg, excl, summary = build_index(tmp_path, ["Session01"], "first")
    assert excluded_reasons(excl) == {"Sess01_script01_M002": "missing_wav",
                                      "Sess01_impro01_F001": "missing_txt"}
    assert set(excl["session"]) == {"Session01"}
    detail = excl.set_index("segment_id").at["Sess01_script01_M002", "detail"]
    assert detail == "wav/Session01/Sess01_script01/Sess01_script01_M002.wav"
    assert len(seg) == 4 and not set(seg["segment_id"]) & set(excl["segment_id"])
    assert summary["excluded_by_reason"] == {"missing_txt": 1, "missing_wav": 1}


TIE_UTTS = [
    utt("Sess01_script01_M001", "neutral"), utt("Sess01_script01_F001", "neutral"),
    utt("Sess01_script01_M002", "neutral"), utt("Sess01_script01_F002", "happy"),
    utt("Sess01_script01_M003", "sad"), utt("Sess01_script01_F003", "sad"),
    utt("Sess01_script01_M004", "fear"), utt("Sess01_script01_F004", "surprise"),
    utt("Sess01_script01_M005", "neutral;happy"),   # first: neutral; rarest: happy (1 < 3)
    utt("Sess01_script01_F005", "sad;angry"),       # first: sad; rarest: angry (0 single-label rows)
    utt("Sess01_script01_M006", "fear;surprise"),   # first: fear; rarest: surprise (1 = 1, EMOTIONS order)
]
TIE_IDS = ["Sess01_script01_M005", "Sess01_script01_F005", "Sess01_script01_M006"]


@pytest.mark.parametrize("policy, expected", [
    ("first", ["neutral", "sad", "fear"]),
    ("rarest", ["happy", "angry", "surprise"]),
    ("drop", None),
])
def test_tie_policies(tmp_path, policy, expected):
    make_kemdy19(tmp_path, utts=TIE_UTTS)
    seg, excl, summary = build_index(tmp_path, ["Session01"], policy)
    emotions = seg.set_index("segment_id")["emotion"]
    assert summary["ties"]["n"] == 3
    if expected is None:
        assert excluded_reasons(excl) == {i: "tie" for i in TIE_IDS}
        assert excl.set_index("segment_id").at["Sess01_script01_F005", "detail"] == "sad;angry"
        assert summary["ties"]["dropped"] == 3 and len(seg) == 8
    else:
        assert excl.empty
        assert [emotions[i] for i in TIE_IDS] == expected
        assert seg.set_index("segment_id").at["Sess01_script01_M005", "emotion_raw"] == "neutral;happy"
        assert sum(summary["ties"]["resolved"].values()) == 3


def test_unknown_tie_policy_is_rejected(tmp_path):
    make_kemdy19(tmp_path)
    with pytest.raises(ValueError, match="tie_policy"):
        build_index(tmp_path, ["Session01"], "vote")


def test_disqust_unknown_and_empty_labels(tmp_path):
    utts = DEFAULT_UTTS[:3] + [utt("Sess01_script01_F002", "disqust"), utt("Sess01_impro01_M001", "bored"),
                               utt("Sess01_impro01_F001", ""), utt("Sess01_impro01_M002", "Neutral ")]
    make_kemdy19(tmp_path, utts=utts)
    seg, excl, summary = build_index(tmp_path, ["Session01"], "first")
    s = seg.set_index("segment_id")
    assert s.at["Sess01_script01_F002", "emotion"] == "disgust"
    assert s.at["Sess01_script01_F002", "emotion_raw"] == "disqust"
    assert s.at["Sess01_impro01_M002", "emotion"] == "neutral"
    assert excluded_reasons(excl) == {"Sess01_impro01_M001": "unknown_label",
                                      "Sess01_impro01_F001": "missing_label"}
    assert excl.set_index("segment_id").at["Sess01_impro01_M001", "detail"] == "bored"
    assert summary["aliases_mapped"] == {"disqust": 1}


def test_duplicate_segment_ids(tmp_path):
    # F002 listed twice with different labels: every copy goes; M001 listed twice identically: kept once.
    utts = DEFAULT_UTTS[:4] + [utt("Sess01_script01_F002", "angry"), utt("Sess01_script01_M001", "neutral")]

    def same_times(g, rows):  # make the second M001 identical to the first (same times and label)
        rows[5] = ["6"] + rows[0][1:]

    make_kemdy19(tmp_path, utts=utts, rows_edit=same_times)
    seg, excl, summary = build_index(tmp_path, ["Session01"], "first")
    assert excl["segment_id"].tolist() == ["Sess01_script01_F002"] * 2
    assert set(excl["reason"]) == {"duplicate_segment_id"}
    assert "Sess01_script01_F002" not in set(seg["segment_id"])
    assert seg["segment_id"].tolist().count("Sess01_script01_M001") == 1
    assert summary["duplicate_rows_collapsed"] == 1


def test_f_m_id_mismatch_is_excluded(tmp_path):
    utts = DEFAULT_UTTS + [utt("Sess01_impro01_M002", "sad"), utt("Sess01_impro01_F002", "happy")]
    # Numb 6: the F file says M001 while the M file says F001 (neither file's own speaker);
    # Numb 8: the F file repeats the id of row 5 (a valid utterance elsewhere), the M file says F002.
    make_kemdy19(tmp_path, utts=utts, f_ids={6: "Sess01_impro01_M001", 8: "Sess01_impro01_M001"})
    seg, excl, summary = build_index(tmp_path, ["Session01"], "first")
    kept = set(seg["segment_id"])
    assert "Sess01_impro01_F001" not in kept and "Sess01_impro01_F002" not in kept
    assert "Sess01_impro01_M001" in kept  # row 5 agrees in both files
    assert excl.sort_values("detail")["segment_id"].tolist() == ["Sess01_impro01_F001", "Sess01_impro01_F002"]
    assert set(excl["reason"]) == {"id_mismatch"}
    detail = excl.set_index("segment_id").at["Sess01_impro01_F001", "detail"]
    assert "Numb 6" in detail and "Session01_F_res.csv has 'Sess01_impro01_M001'" in detail
    assert summary["id_mismatch_rows"] == 2
    assert not kept & set(excl["segment_id"])


def test_row_in_one_file_only_and_bad_ids(tmp_path):
    utts = DEFAULT_UTTS + [utt("Sess01_impro01_M002"), utt("Sess01_impro01_F002")]

    def edit(g, rows):
        if g == "M":
            del rows[7]  # Numb 8 (impro01_F002) only in the F file
        rows[5][9] = "Sess01_impro01_F001.wav"  # Numb 6: not the strict pattern (both files agree)
        rows[6][9] = "Sess02_impro01_M002"  # Numb 7: another session's id in Session01's files

    make_kemdy19(tmp_path, utts=utts, rows_edit=edit)
    seg, excl, _ = build_index(tmp_path, ["Session01"], "first")
    assert excluded_reasons(excl) == {"Sess01_impro01_F002": "unpaired",
                                      "Sess01_impro01_F001.wav": "bad_segment_id",
                                      "Sess02_impro01_M002": "bad_segment_id"}
    assert "Session01_M_res.csv" in excl.set_index("segment_id").at["Sess01_impro01_F002", "detail"]
    assert len(seg) == 5


def test_times_come_from_the_speakers_own_file(tmp_path):
    def edit(g, rows):
        if g == "F":  # the F file disagrees on the times of Numb 1 (an M utterance) and Numb 2 (F)
            rows[0][1:3] = ["9.000", "11.000"]
            rows[1][1:3] = ["7.000", "8.000"]

    make_kemdy19(tmp_path, rows_edit=edit)
    seg, excl, summary = build_index(tmp_path, ["Session01"], "first")
    s = seg.set_index("segment_id")
    assert (s.at["Sess01_script01_M001", "start"], s.at["Sess01_script01_M001", "end"]) == (2.0, 3.5)
    assert (s.at["Sess01_script01_F001", "start"], s.at["Sess01_script01_F001", "end"]) == (7.0, 8.0)
    assert excl.empty and summary["wav_time_mismatch_rows"] == 2


def test_missing_annotation_file_names_it(tmp_path):
    make_kemdy19(tmp_path)
    (tmp_path / "annotation" / "Session01_M_res.csv").unlink()
    with pytest.raises(DataError, match="Session01_M_res.csv") as e:
        build_index(tmp_path, ["Session01"], "first")
    assert "not found" in str(e.value)


def test_two_sessions_every_utterance_accounted_for(tmp_path):
    make_kemdy19(tmp_path, no_wav={"Sess01_impro01_M001"})
    utts2 = [utt(u["id"].replace("Sess01", "Sess02"), u["emotion"]) for u in DEFAULT_UTTS]
    make_kemdy19(tmp_path, "Session02", utts=utts2, newline="\r\n", m_ids={2: "Sess02_script01_M009"})
    seg, excl, summary = build_index(tmp_path, ["Session01", "Session02"], "first")
    all_ids = {u["id"] for u in DEFAULT_UTTS + utts2}
    assert set(seg["segment_id"]) | set(excl["segment_id"]) >= all_ids
    assert not set(seg["segment_id"]) & set(excl["segment_id"])
    assert summary["per_session"] == {"Session01": 5, "Session02": 5}
    assert seg["segment_id"].is_monotonic_increasing
    assert excluded_reasons(excl)["Sess02_script01_F001"] == "id_mismatch"


# ----------------------------------------------------------------------------------------------------
# index_dataset and the Snakemake script
# ----------------------------------------------------------------------------------------------------
def _six_sessions(root: Path) -> list[str]:
    sessions = []
    for s in range(1, 7):
        utts = [utt(u["id"].replace("Sess01", f"Sess{s:02d}"), u["emotion"]) for u in DEFAULT_UTTS]
        make_kemdy19(root, f"Session{s:02d}", utts=utts)
        sessions.append(f"Session{s:02d}")
    return sessions


SPLIT = {"scheme": "session", "folds": 3, "val_groups": 1, "test_fraction": 0.2, "val_fraction": 0.15, "seed": 0}


def test_index_dataset_adds_folds(tmp_path):
    sessions = _six_sessions(tmp_path)
    seg, folds, excl, summary = index_dataset(tmp_path, sessions, {"tie_policy": "first"}, SPLIT)
    assert list(seg.columns) == SEGMENT_COLUMNS + ["fold"]
    assert list(folds.columns) == ["segment_id", "fold", "split"] and len(folds) == 3 * len(seg)
    # every utterance is tested exactly once, by the fold that holds out its session
    tested = folds[folds["split"] == "test"]
    assert sorted(tested["segment_id"]) == sorted(seg["segment_id"])
    assert seg.set_index("segment_id")["fold"].sort_index().equals(tested.set_index("segment_id")["fold"].sort_index())
    assert seg.groupby("session")["fold"].nunique().max() == 1
    for k in range(3):
        assert summary["split"]["per_fold"][str(k)]["counts"] == {"train": 18, "val": 6, "test": 12}
        assert len(summary["split"]["per_fold"][str(k)]["sessions"]["test"]) == 2


def test_index_dataset_without_segments_is_an_error(tmp_path):
    make_kemdy19(tmp_path, no_wav={u["id"] for u in DEFAULT_UTTS})
    with pytest.raises(DataError, match="no usable segments"):
        index_dataset(tmp_path, ["Session01"], {"tie_policy": "first"}, SPLIT)



def _fake_smk(root: Path, out: Path, sessions):
    return SimpleNamespace(
        input=SimpleNamespace(annotations=[], code=[]),
        output=SimpleNamespace(segments=str(out / "segments.parquet"), folds=str(out / "folds.parquet"),
                               excluded=str(out / "qc" / "excluded.tsv"),
                               summary=str(out / "qc" / "index_summary.json")),
        params=SimpleNamespace(data_dir=str(root), sessions=sessions, labels={"tie_policy": "first"},
                               split=SPLIT, dataset="kemdy19"),
        log=[str(out / "index.log")], threads=1, rule="index_segments",
        scriptdir=str(ROOT / "workflow" / "scripts"),
    )


def test_script_writes_all_outputs(tmp_path, restore_logging):
    root, out = tmp_path / "KEMDy19", tmp_path / "results"
    out.mkdir()
    sessions = _six_sessions(root)
    runpy.run_path(str(ROOT / "workflow" / "scripts" / "index_segments.py"),
                   init_globals={"snakemake": _fake_smk(root, out, sessions)})
    seg = pd.read_parquet(out / "segments.parquet")
    assert len(seg) == 36 and set(seg["fold"]) == {0, 1, 2}
    folds = pd.read_parquet(out / "folds.parquet")
    assert set(folds["split"]) == {"train", "val", "test"} and len(folds) == 3 * 36
    assert (out / "qc" / "excluded.tsv").read_text() == "segment_id\tsession\treason\tdetail\n"
    assert json.loads((out / "qc" / "index_summary.json").read_text())["segments"] == 36
    assert "36 segments kept" in (out / "index.log").read_text()


def test_script_reports_data_error(tmp_path, restore_logging):
    root, out = tmp_path / "KEMDy19", tmp_path / "results"
    out.mkdir()
    sessions = _six_sessions(root)
    (root / "annotation" / "Session03_F_res.csv").unlink()
    with pytest.raises(SystemExit):
        runpy.run_path(str(ROOT / "workflow" / "scripts" / "index_segments.py"),
                       init_globals={"snakemake": _fake_smk(root, out, sessions)})
    assert "Session03_F_res.csv" in (out / "index.log").read_text()
    assert not (out / "segments.parquet").exists()
