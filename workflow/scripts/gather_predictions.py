"""Snakemake script for rule gather_predictions: all seeds of one modality in one validated table."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

from emoflow import runtime  # noqa: E402
from emoflow.predictions import gather_predictions  # noqa: E402


def main(smk):
    gather_predictions(smk.input.parts, smk.output[0])


runtime.run(snakemake, main)  # noqa: F821
