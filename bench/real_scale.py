#!/usr/bin/env python
"""The synthetic data at the size of the real trial, measured as the real files were.

The real figures of issue 15 come from KEMDy19 sessions 1-3 (about 1,500 utterances), leave-one-session-out,
logistic regression on standard offline features: Korean-morpheme TF-IDF 0.566, eGeMAPS 0.478, against a
majority of 0.409. This script builds three sessions of the **full** preset (real-sized sessions, same
generator and seed as the default) in ``bench/_work/three``, extracts the same features with the workflow
(``egemaps`` functionals, the morpheme table, the bio table), and measures the label read-back with the
classifiers of ``emoflow.readback`` under the same protocol (``session_readback``), plus the product of the
out-of-fold posteriors of each pair and of all three, so that the synthetic data can be set beside the real
trial at the same scale (``tests/test_real_scale.py`` keeps the comparison as a test).

Writes ``bench/results/real_scale.json`` and prints a markdown table.

    python bench/real_scale.py [--sessions 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


import common  # noqa: E402
import readback  # noqa: E402

sys.path.insert(0, str(common.ROOT / "workflow" / "src"))
from emoflow import readback as rb  # noqa: E402

REAL = {"text": 0.566, "audio": 0.478, "majority": 0.409,
        "source": "real KEMDy19 sessions 1-3, leave-one-session-out, logistic regression: "
                  "Korean-morpheme TF-IDF (text), eGeMAPS (audio)"}
MAKERS = {"audio": rb.dense_model, "text": rb.tfidf_model, "bio": rb.dense_model}
TARGETS = ["results/segments.parquet", "results/features/opensmile/eGeMAPSv02.parquet",
           "results/features/text/morphemes.parquet", "results/features/bio.parquet"]


def build(n_sessions: int, cores: int, cue: dict[str, float]) -> Path:
    dest = common.copy_workflow("three", refresh=True)
    acc = "".join(f"    {m}: {v}\n" for m, v in cue.items())
    (dest / "real_scale.yaml").write_text(
        "# written by bench/real_scale.py: real-sized sessions, as many as the real trial\n"
        f"synthetic:\n  size: full\n  n_sessions: {n_sessions}\n"
        + (f"  cue_accuracy:\n{acc}" if acc else "") +
        f"split:\n  folds: {n_sessions}\n  val_groups: 1\n")
    common.snakemake(dest, ["--configfile", "real_scale.yaml", "--cores", str(cores), *TARGETS], "features")
    return dest


def load(dest: Path) -> dict:
    d = rb.modality_views(**readback.feature_tables(dest / "results"))
    d["cues"] = readback.truth_cues(dest, d["ids"])
    return d


def measure(d: dict) -> dict:
    return rb.session_readback(MAKERS, d["x"], d["label"], d["sessions"])


def cue_readback(d: dict) -> dict:
    """Each modality's own cue read back the same way (leave-one-session-out), beside its majority."""
    folds = rb.fold_ids(d["sessions"], "session")
    return {m: {"accuracy": rb.accuracy(d["cues"][m], rb.cross_val_predict(make, d["x"][m], d["cues"][m], folds)),
                "majority": rb.accuracy(d["cues"][m], rb.fold_majority(d["cues"][m], folds))}
            for m, make in MAKERS.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=3)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--cue", action="append", default=[], metavar="MODALITY=P",
                    help="override synthetic.cue_accuracy (exploration; the default data otherwise)")
    ap.add_argument("--skip-build", action="store_true", help="reuse bench/_work/three as it is")
    args = ap.parse_args(argv)
    t0 = time.time()
    cue = {k: float(v) for k, v in (c.split("=") for c in args.cue)}
    dest = common.WORK / "three" if args.skip_build else build(args.sessions, args.cores, cue)
    d = load(dest)
    result = {"n": len(d["ids"]), "n_sessions": len(set(d["sessions"])), "real": REAL,
              "cue_accuracy": cue or "default",
              "synthetic": measure(d), "cue_readback": cue_readback(d)}
    result["seconds"] = round(time.time() - t0, 1)
    common.save("real_scale", result)
    s = result["synthetic"]
    print("| leave-one-session-out accuracy | synthetic | real |\n|---|---:|---:|")
    for k, v in s.items():
        real = f"{REAL[k]:.3f}" if k in REAL else ""
        print(f"| {k} | {v:.3f} | {real} |")
    print("\n".join(f"{m} cue read back {v['accuracy']:.3f} (its majority {v['majority']:.3f})"
                    for m, v in result["cue_readback"].items()))
    print(f"\n{result['n']} utterances, {result['n_sessions']} sessions; {result['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
