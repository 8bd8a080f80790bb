#!/usr/bin/env python
"""Two finished runs on the same data, compared setting by setting on the same utterances.

Each run's pooled out-of-fold predictions (``results/fusion/{setting}/predictions.parquet``) are scored
on the same 2,000 dialogue resamples (``emoflow.uncertainty``, as Table 1's comparisons), and the paired
difference A - B of accuracy and macro F1 is reported per setting with its 95% interval and Holm-adjusted
p-value (over all rows). Use it for two configurations of one data set (encoders, fusion, features): the
runs must predict the same utterances with the same seeds.

    python bench/compare_runs.py --a DIR --a-name egemaps+tfidf --b DIR --b-name cnn+bert [--out NAME]

Writes ``bench/results/<NAME>.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pandas as pd  # noqa: E402

import common  # noqa: E402

sys.path.insert(0, str(common.ROOT / "workflow" / "src"))
from emoflow import uncertainty as unc  # noqa: E402
from emoflow.constants import SETTINGS  # noqa: E402

METRICS = ("accuracy", "f1_macro")


def scored_run(workdir: Path, dialogue: pd.Series) -> dict[str, unc.Scored]:
    out = {}
    for setting in SETTINGS:
        path = workdir / "results/fusion" / setting / "predictions.parquet"
        out[setting] = unc.score_groups(pd.read_parquet(path), dialogue, path)
    return out


def compare(a: Path, b: Path, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    seg = pd.read_parquet(a / "results/segments.parquet", columns=["segment_id", "session", "dialogue"])
    other = pd.read_parquet(b / "results/segments.parquet", columns=["segment_id"])
    if sorted(seg["segment_id"]) != sorted(other["segment_id"]):
        raise SystemExit(f"{a} and {b} index different utterances: not the same data")
    dialogue = unc.dialogue_of(seg)
    runs = {"a": scored_run(a, dialogue), "b": scored_run(b, dialogue)}
    scored = {f"{run}:{s}": x for run, d in runs.items() for s, x in d.items()}
    counts = unc.resample_counts(len(next(iter(scored.values())).groups), n_boot, seed)
    table = unc.compare(scored, [(f"a:{s}", f"b:{s}") for s in SETTINGS], METRICS, counts, level)
    table.insert(0, "setting", table.pop("setting_a").str[2:])
    return table.drop(columns="setting_b")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", type=Path, required=True)
    ap.add_argument("--b", type=Path, required=True)
    ap.add_argument("--a-name", default="A")
    ap.add_argument("--b-name", default="B")
    ap.add_argument("--out", default="compare_runs")
    args = ap.parse_args(argv)
    table = compare(args.a, args.b)
    common.save(args.out, {"a": {"name": args.a_name, "workdir": common.rel(args.a)},
                           "b": {"name": args.b_name, "workdir": common.rel(args.b)},
                           "rows": table.to_dict(orient="records")})
    print(f"| setting | metric | {args.a_name} − {args.b_name} [95% CI] | p (Holm) |\n|---|---|---:|---:|")
    for r in table.itertuples():
        ci = f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}]"
        print(f"| {r.setting} | {r.metric} | {r.difference:+.3f} {ci} | {r.p_holm:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
