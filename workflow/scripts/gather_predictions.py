"""Snakemake script for rule gather_predictions: all seeds of one modality in one validated table."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

from emoflow import runtime  # noqa: E402
from emoflow.io import write_parquet  # noqa: E402
from emoflow.predictions import combine_seeds, read_predictions  # noqa: E402


def main(smk):
    tables = {str(p): read_predictions(p) for p in smk.input.parts}
    write_parquet(combine_seeds(tables, smk.output[0]), smk.output[0])


runtime.run(snakemake, main)  # noqa: F821
