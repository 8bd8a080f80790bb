"""Snakemake script for rule table: Table 1 (CSV) and the per-class F1 chart."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

from emoflow import runtime  # noqa: E402
from emoflow.table import run_table  # noqa: E402


def main(smk):
    run_table(
        list(smk.input.metrics),
        getattr(smk.input, "oracle", None),
        getattr(smk.input, "qc", None),
        out_table=smk.output.table,
        out_per_class_f1=smk.output.per_class_f1,
    )


runtime.run(snakemake, main)  # noqa: F821
