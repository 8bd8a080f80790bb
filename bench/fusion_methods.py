#!/usr/bin/env python
"""Every fusion method, with and without calibration, on the same trained models.

Reads the per-modality prediction tables of a finished run (default: the main-job copy,
``bench/_work/small/results``, which ``bench/main_job.py`` builds with the current code and the default
config) and fuses each multi-modality setting with each ``fusion.method`` x ``fusion.calibrate``, through
the workflow's own ``emoflow.fusion.run_setting`` per fold and ``pool_folds`` (as the ``fuse`` and
``pool_folds`` rules do). The models are the same in
every row, so the rows differ only by the fusion. Each row has the test metrics (as in Table 1) and the
same metrics on the fused validation rows (``val_*``). A choice between methods is to be made on the
validation figures; those of the fitted methods are optimistic, since their fits use the same rows.
Writes ``bench/results/fusion_methods.json``.

    python bench/fusion_methods.py [--results DIR]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pandas as pd  # noqa: E402

import common  # noqa: E402

sys.path.insert(0, str(common.ROOT / "workflow" / "src"))
from emoflow import fusion  # noqa: E402
from emoflow import metrics as mt  # noqa: E402
from emoflow.constants import SETTINGS  # noqa: E402
from emoflow.predictions import read_predictions  # noqa: E402
from emoflow.split import fold_view  # noqa: E402

METRICS = ("accuracy", "f1_macro", "uar")


def val_metrics(fused: pd.DataFrame) -> dict:
    """Mean over the model seeds of the metrics on the fused validation rows."""
    per_seed = [mt.evaluate(rows["emotion"], rows["pred"])
                for _, rows in fused[fused["split"] == "val"].groupby("seed")]
    return {f"val_{k}": sum(d[k] for d in per_seed) / len(per_seed) for k in METRICS} if per_seed else {}


def fuse_folds(tables: dict, sources: dict, setting: str, method: str, calibrate: bool, segments, folds):
    """The fuse rule on every fold, then the pool_folds rule: (pooled result, validation metrics)."""
    per_fold, val_rows = [], []
    for k in sorted(folds["fold"].unique()):
        part = {m: t[t["fold"] == k].reset_index(drop=True) for m, t in tables.items()}
        prior = fusion.segments_prior(fold_view(segments, folds, k)) if method == "product" else None
        res = fusion.run_setting(part, sources, setting, method, 0, int(k), calibrate=calibrate, prior=prior)
        per_fold.append(res)
        val_rows.append(res.predictions[res.predictions["split"] == "val"])
    return fusion.pool_folds(per_fold).metrics, val_metrics(pd.concat(val_rows, ignore_index=True))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=common.WORK / "small" / "results")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    preds = args.results / "predictions"
    for p in (args.results / "segments.parquet", args.results / "folds.parquet",
              *(preds / f"{m}.parquet" for m in ("audio", "text", "bio"))):
        if not p.exists():
            raise SystemExit(f"{p} is missing: run `python bench/run_all.py --only main` first")
    segments = pd.read_parquet(args.results / "segments.parquet")
    folds = pd.read_parquet(args.results / "folds.parquet")
    rows = []
    for setting, (label, modalities) in SETTINGS.items():
        if len(modalities) == 1:
            continue  # a single modality is its model's output under every method
        sources = fusion.modality_sources([str(preds / f"{m}.parquet") for m in modalities], list(modalities))
        tables = {m: read_predictions(p) for m, p in sources.items()}
        for method in fusion.METHODS:
            for calibrate in (False, True):
                res, val = fuse_folds(tables, sources, setting, method, calibrate, segments, folds)
                rows.append({
                    "setting": label, "method": method, "calibrate": calibrate, "n_seeds": res["n_seeds"],
                    "n_folds": res["n_folds"], **{k: res[k] for k in METRICS},
                    "accuracy_fold_std": res["fold_spread"]["accuracy"]["std"],
                    "f1_macro_fold_std": res["fold_spread"]["f1_macro"]["std"],
                    **val,
                })
                r = rows[-1]
                print(f"  {label:24s} {method:9s} calibrate={calibrate!s:5s} "
                      f"macro F1 test {r['f1_macro']:.3f}, val {r.get('val_f1_macro', float('nan')):.3f}",
                      flush=True)
    table = args.results / "table1.csv"
    table_rows = pd.read_csv(table).to_dict(orient="records") if table.exists() else None
    common.save("fusion_methods", {"command": "python bench/fusion_methods.py", "rows": rows,
                                   "results": common.rel(args.results), "table1": table_rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
