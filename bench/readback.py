#!/usr/bin/env python
"""How much of each cue the workflow's own features carry, and what a random split would claim.

Reads a finished run of the synthetic default (default: the main-job copy ``bench/_work/small``, which
``bench/main_job.py`` builds; any folder with ``results/`` and the generator's ``_truth/`` works) and, with
plain logistic regression (``emoflow.readback``), measures:

1. **Read-back**, leave-one-session-out: each modality's cue and the label predicted from that modality's
   features (audio: the eGeMAPS functionals of the ``egemaps`` encoder; text: morpheme 1-2-gram TF-IDF,
   as the ``tfidf`` encoder; bio: the bio feature table, missing signals imputed), beside the oracle
   (the MAP rule on the true cues) and its expected accuracy.
2. **Random split vs session split**, the same classifier on the same utterances: random 3-fold
   (5 shuffles, averaged) against leave-one-session-out, with the paired dialogue bootstrap: on real
   KEMDy19 (3 sessions, eGeMAPS + logistic regression) 0.518 vs 0.478.

Writes ``bench/results/readback.json`` and prints the tables as markdown.

    python bench/readback.py [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

import common  # noqa: E402

sys.path.insert(0, str(common.ROOT / "workflow" / "src"))
from emoflow import metrics as mt  # noqa: E402
from emoflow import readback as rb  # noqa: E402
from emoflow import uncertainty as unc  # noqa: E402

REAL = {"random": 0.518, "session": 0.478, "majority": 0.409,
        "source": "real KEMDy19, sessions 1-3, eGeMAPS + logistic regression: random 3-fold vs leave-one-session-out"}


def feature_tables(res: Path) -> dict:
    """The tables ``emoflow.readback.modality_views`` reads, from a run's ``results/`` folder."""
    return {"segments": pd.read_parquet(res / "segments.parquet"),
            "egemaps": pd.read_parquet(res / "features/opensmile/eGeMAPSv02.parquet"),
            "bio": pd.read_parquet(res / "features/bio.parquet"),
            "morphemes": pd.read_parquet(res / "features/text/morphemes.parquet")}


def truth_cues(workdir: Path, ids) -> dict:
    """Each modality's latent cue of the utterances ``ids``, from the generator's ``_truth`` folder."""
    truth = pd.read_parquet(workdir / "resources/synthetic/KEMDy19/_truth/cues.parquet").set_index("segment_id")
    return {m: pd.Series(ids).map(truth[f"{m}_cue"]).to_numpy() for m in ("audio", "text", "bio")}


def load(workdir: Path) -> dict:
    res = workdir / "results"
    d = rb.modality_views(**feature_tables(res))
    d["cues"] = truth_cues(workdir, d["ids"])
    d["oracle"] = json.loads((res / "oracle.json").read_text())["settings"]
    d["table"] = pd.read_csv(res / "table1.csv").set_index("setting")
    return d


def models() -> dict:
    return {"audio": rb.dense_model, "text": rb.tfidf_model, "bio": rb.dense_model}


def accuracy_ci(d: dict, y: np.ndarray, pred: np.ndarray, n_boot: int) -> list[float]:
    """95% dialogue-bootstrap interval of the accuracy of ``pred`` (as Table 1's intervals)."""
    table = pd.DataFrame({"seed": 0, "segment_id": d["ids"], "emotion": y, "pred": pred})
    scored = {"x": unc.score_groups(table, pd.Series(d["dialogues"], index=d["ids"]))}
    counts = unc.resample_counts(len(scored["x"].groups), n_boot, 0)
    ci = unc.intervals(scored, counts, 0.95).iloc[0]
    return [float(ci["accuracy_ci_low"]), float(ci["accuracy_ci_high"])]


def readback(d: dict, n_boot: int) -> list[dict]:
    folds = rb.fold_ids(d["sessions"], "session")
    rows = []
    label_names = {"audio": "Audio", "text": "Text", "bio": "Bio Signals"}
    for m, make in models().items():
        cue_pred = rb.cross_val_predict(make, d["x"][m], d["cues"][m], folds)
        label_pred = rb.cross_val_predict(make, d["x"][m], d["label"], folds)
        scores = mt.evaluate(list(d["label"]), list(label_pred))
        o = d["oracle"][m]
        rows.append({
            "modality": m, "cue_accuracy": rb.accuracy(d["cues"][m], cue_pred),
            "cue_accuracy_ci": accuracy_ci(d, d["cues"][m], cue_pred, n_boot),
            "cue_majority": rb.accuracy(d["cues"][m], rb.fold_majority(d["cues"][m], folds)),
            "label_accuracy": scores["accuracy"], "label_f1_macro": scores["f1_macro"],
            "label_accuracy_ci": accuracy_ci(d, d["label"], label_pred, n_boot),
            "label_majority": rb.accuracy(d["label"], rb.fold_majority(d["label"], folds)),
            "oracle_accuracy": o["accuracy"], "oracle_expected_accuracy": o["expected_accuracy"],
            "workflow_accuracy": float(d["table"].loc[label_names[m], "accuracy"]),
            "workflow_f1_macro": float(d["table"].loc[label_names[m], "f1_macro"]),
        })
    return rows


def split_comparison(d: dict, repeats: int, n_boot: int) -> dict:
    out = {}
    for m, make in models().items():
        out[m] = rb.compare_schemes(make, d["x"][m], d["label"], d["sessions"], d["dialogues"], d["ids"],
                                    k=3, repeats=repeats, n_boot=n_boot)
    return out


def fmt_ci(value, ci) -> str:
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def render(result: dict) -> str:
    lines = ["| modality (features) | its cue read back (majority) | label from the features (macro F1) | "
             "workflow model (macro F1) | oracle on the cue (expected) |", "|---|---:|---:|---:|---:|"]
    what = {"audio": "Audio (eGeMAPS)", "text": "Text (morpheme TF-IDF)", "bio": "Bio (HRV, EDA, TEMP)"}
    for r in result["readback"]:
        lines.append(f"| {what[r['modality']]} | {fmt_ci(r['cue_accuracy'], r['cue_accuracy_ci'])} "
                     f"({r['cue_majority']:.3f}) | "
                     f"{fmt_ci(r['label_accuracy'], r['label_accuracy_ci'])} ({r['label_f1_macro']:.3f}) | "
                     f"{r['workflow_accuracy']:.3f} ({r['workflow_f1_macro']:.3f}) | "
                     f"{r['oracle_accuracy']:.3f} ({r['oracle_expected_accuracy']:.3f}) |")
    lines += ["", "| features | random 3-fold accuracy | leave-one-session-out accuracy | "
              "difference [95% CI], p | macro F1 difference [95% CI] |", "|---|---:|---:|---:|---:|"]
    for m, c in result["split"].items():
        da, df = c["difference"]["accuracy"], c["difference"]["f1_macro"]
        lines.append(f"| {what[m]} | {fmt_ci(c['random']['accuracy'], c['random']['accuracy_ci'])} | "
                     f"{fmt_ci(c['session']['accuracy'], c['session']['accuracy_ci'])} | "
                     f"{da['value']:+.3f} [{da['ci'][0]:+.3f}, {da['ci'][1]:+.3f}], {da['p_value']:.3f} | "
                     f"{df['value']:+.3f} [{df['ci'][0]:+.3f}, {df['ci'][1]:+.3f}] |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=common.WORK / "small")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--n-boot", type=int, default=2000)
    args = ap.parse_args(argv)
    t0 = time.time()
    d = load(args.workdir)
    result = {"workdir": common.rel(args.workdir), "n": len(d["ids"]), "n_sessions": len(set(d["sessions"])),
              "n_features": d["n_features"], "real": REAL, "readback": readback(d, args.n_boot),
              "split": split_comparison(d, args.repeats, args.n_boot)}
    result["seconds"] = round(time.time() - t0, 1)
    common.save("readback", result)
    print(render(result))
    print(f"\n{result['n']} utterances, {result['n_sessions']} sessions; {result['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
