"""Snakemake script for rule table: Table 1 (CSV) with confidence intervals and its metadata (the dataset,
JSON), the paired comparisons between settings (CSV) and the per-class F1 chart."""
import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

import pandas as pd  # noqa: E402

from emoflow import runtime, table, uncertainty  # noqa: E402
from emoflow.constants import COMPARISON_METRICS, COMPARISONS  # noqa: E402
from emoflow.io import read_json, write_csv, write_figure, write_json  # noqa: E402
from emoflow.plots import per_class_f1_figure  # noqa: E402


def first(value):
    """The file of a named input that may be absent (an empty list when the data are real)."""
    if not value:
        return None
    return str(value) if isinstance(value, str) else str(value[0])


def bootstrap(smk) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Dialogue-bootstrap intervals of every setting and the paired comparisons, on the same replicates."""
    ev = smk.params.evaluation
    seg = pd.read_parquet(smk.input.segments, columns=["segment_id", "session", "dialogue"])
    dialogue = uncertainty.dialogue_of(seg)
    scored = {}
    for path in smk.input.predictions:
        setting = Path(path).parent.name
        scored[setting] = uncertainty.score_groups(pd.read_parquet(path), dialogue, path)
    n_groups = len(next(iter(scored.values())).groups)
    counts = uncertainty.resample_counts(n_groups, int(ev["bootstrap"]), int(ev["seed"]))
    runtime.log.info("bootstrap: %d replicates over %d dialogues of the test split, seed %d", len(counts),
                     n_groups, int(ev["seed"]))
    reps = uncertainty.replicates(scored, counts)  # one set of replicate scores for both tables
    ci = uncertainty.intervals(scored, counts, float(ev["level"]), reps)
    comparisons = uncertainty.compare(scored, COMPARISONS, COMPARISON_METRICS, counts, float(ev["level"]), reps)
    return ci, table.labelled(comparisons)


def main(smk):
    qc = Path(smk.input.qc)
    runtime.log.info("feature QC summary (%s):\n%s", qc, qc.read_text().rstrip())
    oracle_path = first(getattr(smk.input, "oracle", None))
    oracle = read_json(oracle_path) if oracle_path else None
    info = read_json(smk.input.dataset)
    runtime.log.info("dataset %s in %s", info["name"], info["data_dir"])
    metrics, sources = table.by_setting([(str(p), read_json(p)) for p in smk.input.metrics])
    t1 = table.build_table(metrics, oracle, sources=sources, oracle_source=oracle_path or "oracle",
                           dataset=info["dataset"])
    ci, comparisons = bootstrap(smk)
    t1 = table.with_intervals(t1, ci)
    write_csv(t1, smk.output.table, float_format=f"%.{table.DECIMALS}f")
    write_json(table.metadata(info), smk.output.metadata)
    write_csv(comparisons, smk.output.comparisons, float_format=f"%.{table.DECIMALS}f")
    runtime.log.info("Table 1:\n%s\nComparisons:\n%s", t1.to_string(index=False), comparisons.to_string(index=False))
    means, stds = table.per_class_f1(metrics)
    many = int(t1["n_seeds"].max()) > 1
    fig = per_class_f1_figure(means, std=stds if many else None, title=table.per_class_f1_title(t1))
    write_figure(fig, smk.output.per_class_f1)


runtime.run(snakemake, main)  # noqa: F821
