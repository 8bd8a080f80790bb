"""Snakemake script for rule dataset_info: the dataset of this results folder and its resolved defaults."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

from emoflow import datasets, runtime  # noqa: E402
from emoflow.io import write_json  # noqa: E402


def main(smk):
    info = datasets.describe(smk.params.dataset, smk.params.data_dir, smk.params.synthetic, dict(smk.params.resolved))
    runtime.log.info("%s in %s: %s", info["name"], info["data_dir"], info["resolved"])
    write_json(info, smk.output[0])


runtime.run(snakemake, main)  # noqa: F821
