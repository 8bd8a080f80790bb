#!/usr/bin/env python
"""Encoder choice on validation data: each modality's encoders trained on the small synthetic default
(5 session folds, one seed), compared by their **validation** macro F1 and accuracy only.

For every variant (a modality and a config overlay), the workflow builds that modality's predictions
(``results/predictions/{modality}.parquet``) in a copy under ``bench/_work/encoders``; the figures are
computed per fold on the fold's validation rows (the rows that also pick the epoch and fit the
calibration), then averaged over the folds with their standard deviation. Test rows are not read: the
default is chosen here, and test figures appear only in Table 1 afterwards. Also recorded: the wall time
of the variant's jobs (sum over its ``train`` jobs and its own feature jobs).

Usage:
    python bench/encoders.py [--only audio:egemaps text:tfidf]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

sys.path.insert(0, str(common.ROOT / "workflow" / "src"))
from emoflow import metrics as mt  # noqa: E402
from emoflow.constants import EMOTIONS, PROB_COLUMNS  # noqa: E402

NAME = "encoders"
# modality:label -> config overlay (merged over config.yaml by --configfile)
VARIANTS = {
    "audio:cnn": {"audio": {"encoder": "cnn"}},
    "audio:cnn-whole": {"audio": {"encoder": "cnn", "max_seconds": None}},
    "audio:egemaps": {"audio": {"encoder": "egemaps"}},
    "text:bert": {"text": {"encoder": "bert"}},
    "text:tfidf": {"text": {"encoder": "tfidf"}},
    "bio:mlp": {"bio": {"encoder": "mlp"}},
}


def validation_scores(preds) -> dict:
    """Per fold (seed 0): macro F1 and accuracy on the fold's validation rows; mean and std over folds."""
    val = preds[(preds["split"] == "val") & (preds["seed"] == preds["seed"].min())].copy()
    val["pred"] = [EMOTIONS[i] for i in val[PROB_COLUMNS].to_numpy().argmax(axis=1)]
    per_fold = {}
    for k, rows in val.groupby("fold", sort=True):
        per_fold[int(k)] = {"f1_macro": mt.f1_macro(rows["emotion"], rows["pred"]),
                            "accuracy": float((rows["emotion"] == rows["pred"]).mean()), "n": int(len(rows))}
    out = {"per_fold": per_fold}
    for m in ("f1_macro", "accuracy"):
        xs = [f[m] for f in per_fold.values()]
        out[m] = float(sum(xs) / len(xs))
        out[f"{m}_std"] = float((sum((x - out[m]) ** 2 for x in xs) / max(len(xs) - 1, 1)) ** 0.5)
    return out


def one(dest: Path, key: str, overlay: dict) -> dict:
    import pandas as pd

    modality = key.split(":")[0]
    common.clean(dest, "results", "logs", "benchmarks")
    (dest / "variant.yaml").write_text(yaml.safe_dump(overlay))
    target = f"results/predictions/{modality}.parquet"
    run = common.snakemake(dest, [target, "--cores", "all", "--configfile", "variant.yaml"], key.replace(":", "_"))
    preds = pd.read_parquet(dest / target)
    rules = common.per_rule(run.jobs)
    return {"overlay": overlay, "target": target, **validation_scores(preds), "wall_s": run.wall_s,
            "train_s": rules.get("train", {}).get("s"), "rules": rules, "load_before": run.load_before}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", default=None, help="variants to run (default: all)")
    args = ap.parse_args(argv)
    dest = common.copy_workflow(NAME, refresh=True)
    path = common.RESULTS / f"{NAME}.json"
    out = json.loads(path.read_text()) if path.exists() and args.only else {"variants": {}}
    for key in args.only or VARIANTS:
        res = one(dest, key, VARIANTS[key])
        out["variants"][key] = res
        print(f"  {key}: val macro F1 {res['f1_macro']:.3f} +- {res['f1_macro_std']:.3f}, accuracy "
              f"{res['accuracy']:.3f} +- {res['accuracy_std']:.3f}, {res['wall_s']:.0f} s", flush=True)
        out["machine"] = common.machine()
        common.save(NAME, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
