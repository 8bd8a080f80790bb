"""Oracle (Bayes-optimal) figures: exact expected accuracy vs simulation, MAP decisions, scoring."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from conftest import run_script
from emoflow import oracle, synth
from emoflow.constants import EMOTIONS, SETTINGS
from emoflow.errors import DataError


def as_evaluated(segments):
    """The cases below mark evaluated utterances with split == test: that is fold 0's test part."""
    if "fold" in segments.columns:
        return segments
    return segments.assign(fold=np.where(segments["split"] == "test", 0, -1))


def compute(segments, truth_dir):
    """What the oracle script does: read the truth folder, score the evaluated utterances."""
    segments = as_evaluated(segments)
    model = oracle.load_cue_model(truth_dir)
    cues, source = oracle.read_cues(truth_dir)
    return oracle.compute_oracle(segments, model, cues, source)

ROOT = Path(__file__).resolve().parents[1]
E = {e: i for i, e in enumerate(EMOTIONS)}
PRIOR = [0.40, 0.14, 0.10, 0.18, 0.08, 0.05, 0.05]


def uniform_model(acc: dict, prior=PRIOR) -> dict:
    """P(cue|y) = acc on the diagonal, the rest spread evenly: easy to reason about by hand."""
    mats = {}
    for m, a in acc.items():
        p = np.full((7, 7), (1 - a) / 6)
        np.fill_diagonal(p, a)
        mats[m] = p.tolist()
    return {"version": "test", "seed": 0, "emotions": EMOTIONS, "prior": list(prior),
            "cue_accuracy": acc, "p_cue_given_label": mats}


def cues(**kw) -> dict:
    return {m: np.array([E[c] for c in v]) for m, v in kw.items()}


# ----------------------------------------------------------------------------------------------------
# MAP rule and its exact accuracy
# ----------------------------------------------------------------------------------------------------
def test_map_decisions_by_hand():
    weak = uniform_model({"audio": 0.3, "text": 0.3, "bio": 0.3})
    strong = uniform_model({"audio": 0.7, "text": 0.7, "bio": 0.7})
    # one weak cue for a rare class loses to the prior: 0.05*0.3 < 0.40*0.7/6
    assert EMOTIONS[oracle.map_decision(weak, cues(audio=["fear"]), ["audio"])[0]] == "neutral"
    # a strong cue wins: 0.05*0.7 > 0.40*0.05
    assert EMOTIONS[oracle.map_decision(strong, cues(audio=["fear"]), ["audio"])[0]] == "fear"
    # two strong cues disagree: the class with the higher prior wins (angry 0.18 > happy 0.14)
    c = cues(audio=["happy"], text=["angry"])
    assert EMOTIONS[oracle.map_decision(strong, c, ["audio", "text"])[0]] == "angry"
    # two weak cues agreeing on a rare class do not beat the prior (0.05*0.3^2 < 0.40*(0.7/6)^2),
    # three do (0.05*0.3^3 > 0.40*(0.7/6)^3)
    c = cues(audio=["fear"], text=["fear"], bio=["fear"])
    assert EMOTIONS[oracle.map_decision(weak, c, ["audio", "text"])[0]] == "neutral"
    assert EMOTIONS[oracle.map_decision(weak, c, ["audio", "text", "bio"])[0]] == "fear"
    # only the setting's modalities count: the bio cue is ignored in an audio+text setting
    c = cues(audio=["sad"], text=["sad"], bio=["happy"])
    assert EMOTIONS[oracle.map_decision(strong, c, ["audio", "text"])[0]] == "sad"
    # exact ties go to the earlier class in EMOTIONS order
    flat = uniform_model({"audio": 0.7}, prior=[1 / 7] * 7)
    c = cues(audio=["fear"], text=["happy"])
    flat["p_cue_given_label"]["text"] = flat["p_cue_given_label"]["audio"]
    assert EMOTIONS[oracle.map_decision(flat, c, ["audio", "text"])[0]] == "happy"


def test_expected_accuracy_closed_forms():
    # a single uniform-confusion cue that beats the prior everywhere: accuracy = its accuracy
    assert oracle.expected_accuracy(uniform_model({"audio": 0.7}), ["audio"]) == pytest.approx(0.7, abs=1e-12)
    # an uninformative cue: always the prior's mode
    flat = oracle.expected_accuracy(uniform_model({"audio": 1 / 7}), ["audio"])
    assert flat == pytest.approx(0.40, abs=1e-12)
    # perfect cues
    perfect = uniform_model({"audio": 1.0, "text": 1.0})
    assert oracle.expected_accuracy(perfect, ["audio", "text"]) == pytest.approx(1.0)


def brute_force_expected(model, modalities) -> float:
    """Sum over every cue combination with plain Python loops (independent of the vectorised code)."""
    prior = model["prior"]
    mats = model["p_cue_given_label"]
    total = 0.0
    for combo in itertools.product(range(7), repeat=len(modalities)):
        best = 0.0
        for y in range(7):
            p = prior[y]
            for m, c in zip(modalities, combo):
                p *= mats[m][y][c]
            best = max(best, p)
        total += best
    return total


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_expected_accuracy_matches_enumeration_and_simulation(setting):
    model = synth.build_cue_model({"audio": 0.7, "text": 0.55, "bio": 0.6}, seed=1)
    modalities = SETTINGS[setting][1]
    exact = oracle.expected_accuracy(model, modalities)
    assert exact == pytest.approx(brute_force_expected(model, modalities), abs=1e-12)
    # Monte Carlo: sample labels and cues from the model, apply the MAP rule
    rng = np.random.default_rng(42)
    n = 200_000
    labels = rng.choice(7, size=n, p=model["prior"])
    sampled = {}
    for m in modalities:
        p = np.asarray(model["p_cue_given_label"][m])
        u = rng.random(n)
        sampled[m] = (u[:, None] > np.cumsum(p, axis=1)[labels]).sum(axis=1).clip(max=6)
    acc = float(np.mean(oracle.map_decision(model, sampled, modalities) == labels))
    se = np.sqrt(exact * (1 - exact) / n)
    assert abs(acc - exact) < 4 * se
    # more modalities never hurt the Bayes-optimal rule
    if len(modalities) > 1:
        for m in modalities:
            assert exact >= oracle.expected_accuracy(model, [m]) - 1e-12


# ----------------------------------------------------------------------------------------------------
# compute_oracle on a truth folder
# ----------------------------------------------------------------------------------------------------
def write_truth(truth_dir: Path, model: dict, table: pd.DataFrame) -> Path:
    truth_dir.mkdir(parents=True, exist_ok=True)
    (truth_dir / "cue_model.json").write_text(json.dumps(model))
    table.to_parquet(truth_dir / "cues.parquet", index=False)
    return truth_dir


@pytest.fixture
def case(tmp_path):
    rng = np.random.default_rng(0)
    model = synth.build_cue_model({"audio": 0.7, "text": 0.55, "bio": 0.6}, seed=5)
    n = 400
    labels = rng.choice(7, size=n, p=model["prior"])
    table = pd.DataFrame({"segment_id": [f"Sess01_script01_M{i:03d}" for i in range(n)],
                          "label": [EMOTIONS[i] for i in labels]})
    for m in ("audio", "text", "bio"):
        p = np.asarray(model["p_cue_given_label"][m])
        table[f"{m}_cue"] = [EMOTIONS[rng.choice(7, p=p[y])] for y in labels]
    table["listener_label"] = "neutral"
    segments = pd.DataFrame({"segment_id": table.segment_id, "emotion": table.label,
                             "split": rng.choice(["train", "val", "test"], size=n, p=[0.6, 0.1, 0.3])})
    # the reader's label can differ from the truth label (e.g. the rarest tie policy)
    segments.loc[segments.index[:7], "emotion"] = "disgust"
    segments = segments.sample(frac=1.0, random_state=1).reset_index(drop=True)  # row order must not matter
    return SimpleNamespace(model=model, table=table, segments=segments,
                           truth_dir=write_truth(tmp_path / "_truth", model, table))


def test_compute_oracle_scores_the_test_split(case):
    out = compute(case.segments, case.truth_dir)
    assert list(out["settings"]) == list(SETTINGS)
    test = case.segments[case.segments.split == "test"].merge(case.table, on="segment_id")
    for sid, (label, modalities) in SETTINGS.items():
        res = out["settings"][sid]
        # independent MAP: brute force per row with python floats
        pred = []
        for _, r in test.iterrows():
            scores = []
            for y in range(7):
                p = case.model["prior"][y]
                for m in modalities:
                    p *= case.model["p_cue_given_label"][m][y][E[r[f"{m}_cue"]]]
                scores.append(p)
            pred.append(EMOTIONS[int(np.argmax(scores))])
        assert res["label"] == label and res["modalities"] == modalities
        assert res["n_test"] == len(test) == int((case.segments.split == "test").sum())
        assert res["accuracy"] == pytest.approx(np.mean(np.array(pred) == test.emotion.to_numpy()))
        assert res["f1_macro"] == pytest.approx(
            f1_score(test.emotion, pred, labels=EMOTIONS, average="macro", zero_division=0))
        assert res["expected_accuracy"] == pytest.approx(oracle.expected_accuracy(case.model, modalities))
    expected = {sid: r["expected_accuracy"] for sid, r in out["settings"].items()}
    assert expected["audio+text+bio"] > expected["audio+text"] > expected["audio"]
    assert out["cue_model"]["prior"]["neutral"] == pytest.approx(0.42)  # KEMDy19 over 20 sessions
    json.dumps(out)  # JSON-ready


def test_missing_cues_are_an_error(case):
    extra = pd.DataFrame({"segment_id": ["Sess09_impro01_F001"], "emotion": ["sad"], "split": ["test"]})
    with pytest.raises(DataError, match="no cues"):
        compute(pd.concat([case.segments, extra]), case.truth_dir)
    # a segment outside the test split needs no cues
    extra["split"] = "train"
    compute(pd.concat([case.segments, extra]), case.truth_dir)


def test_bad_truth_files_are_data_errors(case, tmp_path):
    with pytest.raises(DataError, match="cue_model.json"):
        compute(case.segments, tmp_path / "nowhere")
    bad = dict(case.model, prior=[0.5] * 7)
    with pytest.raises(DataError, match="prior"):
        compute(case.segments, write_truth(tmp_path / "bad", bad, case.table))
    t = case.table.copy()
    t.loc[0, "audio_cue"] = "joy"
    t2 = write_truth(tmp_path / "bad2", case.model, t)
    seg = case.segments.copy()
    seg.loc[seg.segment_id == t.segment_id[0], "split"] = "test"
    with pytest.raises(DataError, match="joy"):
        compute(seg, t2)


def test_on_generated_tiny_data(tmp_path):
    """End to end with the generator's truth: the oracle's decisions use the true cues."""
    root = tmp_path / "KEMDy19"
    synth.generate(root, {"size": "tiny", "seed": 3, "n_sessions": 2}, tmp_path / "manifest.json")
    t = pd.read_parquet(root / "_truth" / "cues.parquet")
    segments = pd.DataFrame({"segment_id": t.segment_id, "emotion": t.label, "split": "test"})
    out = compute(segments, root / "_truth")
    model = json.loads((root / "_truth" / "cue_model.json").read_text())
    assert out["cue_model"]["cue_accuracy"] == model["cue_accuracy"]
    # with perfect cues the oracle would be perfect; with the real ones it is bounded by the model
    for sid, res in out["settings"].items():
        assert res["n_test"] == len(t)
        assert 0.2 < res["accuracy"] <= 1.0
    perfect = dict(model)
    perfect["p_cue_given_label"] = {m: np.eye(7).tolist() for m in ("audio", "text", "bio")}
    (root / "_truth" / "cue_model.json").write_text(json.dumps(perfect))
    t2 = t.assign(audio_cue=t.label, text_cue=t.label, bio_cue=t.label)
    t2.to_parquet(root / "_truth" / "cues.parquet", index=False)
    out = compute(segments, root / "_truth")
    assert all(r["accuracy"] == 1.0 and r["expected_accuracy"] == pytest.approx(1.0)
               for r in out["settings"].values())


def test_script_writes_json(case, tmp_path):
    seg_path = tmp_path / "segments.parquet"
    as_evaluated(case.segments).to_parquet(seg_path, index=False)
    out_path = tmp_path / "results" / "oracle.json"
    smk = SimpleNamespace(
        input=SimpleNamespace(segments=str(seg_path), manifest="", code=[]),
        output=[str(out_path)], params=SimpleNamespace(truth_dir=str(case.truth_dir)),
        log=[str(tmp_path / "oracle.log")], threads=1, rule="oracle",
        scriptdir=str(ROOT / "workflow" / "scripts"),
    )
    run_script("oracle.py", smk)
    written = json.loads(out_path.read_text())
    assert written == json.loads(json.dumps(compute(case.segments, case.truth_dir)))
    assert "oracle audio" in (tmp_path / "oracle.log").read_text()
