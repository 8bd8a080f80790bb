#!/usr/bin/env python
"""Every fusion method, with and without calibration, on the same trained models.

Reads the per-modality prediction tables of a finished run (default: the main-job copy,
``bench/_work/small/results``, which ``bench/main_job.py`` builds with the current code and the default
config) and fuses each multi-modality setting with each ``fusion.method`` x ``fusion.calibrate``, through
the workflow's own ``emoflow.fusion.run_setting`` (outputs to a temporary folder). The models are the
same in every row, so the rows differ only by the fusion. Writes ``bench/results/fusion_methods.json``.

    python bench/fusion_methods.py [--results DIR]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(common.ROOT / "workflow" / "src"))
from emoflow.constants import SETTINGS  # noqa: E402
from emoflow.fusion import METHODS, run_setting  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", type=Path, default=common.WORK / "small" / "results")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    preds = args.results / "predictions"
    segments = args.results / "segments.parquet"
    for p in (segments, *(preds / f"{m}.parquet" for m in ("audio", "text", "bio"))):
        if not p.exists():
            raise SystemExit(f"{p} is missing: run `python bench/run_all.py --only main` first")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for setting, (label, modalities) in SETTINGS.items():
            for method in METHODS:
                for calibrate in (False, True):
                    if len(modalities) == 1 and method != "mean":
                        continue  # a single modality is its model's output under every method
                    out = Path(tmp) / f"{setting}_{method}_{calibrate}"
                    res = run_setting([str(preds / f"{m}.parquet") for m in modalities], list(modalities),
                                      method=method, seed=0, setting=setting,
                                      out_predictions=out / "p.parquet", out_metrics=out / "m.json",
                                      calibrate=calibrate, segments_path=str(segments))
                    rows.append({
                        "setting": label, "method": method, "calibrate": calibrate, "n_seeds": res["n_seeds"],
                        **{k: res["summary"][k]["mean"] for k in ("accuracy", "f1_macro", "uar")},
                        "accuracy_std": res["summary"]["accuracy"]["std"],
                        "f1_macro_std": res["summary"]["f1_macro"]["std"],
                    })
                    print(f"  {label:24s} {method:9s} calibrate={calibrate!s:5s} accuracy {rows[-1]['accuracy']:.3f}"
                          f"  macro F1 {rows[-1]['f1_macro']:.3f}", flush=True)
    table = args.results / "table1.csv"
    table_rows = pd.read_csv(table).to_dict(orient="records") if table.exists() else None
    common.save("fusion_methods", {"command": "python bench/fusion_methods.py", "results": common.rel(args.results),
                                   "rows": rows, "table1": table_rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
