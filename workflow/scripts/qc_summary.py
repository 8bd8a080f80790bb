"""Snakemake script for rule qc_summary: one QC table (index exclusions + per-modality feature QC)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

from emoflow import runtime  # noqa: E402
from emoflow.io import write_tsv  # noqa: E402
from emoflow.qc import summarise  # noqa: E402


def main(smk):
    table = summarise([smk.input.bio, smk.input.text, smk.input.audio], smk.input.excluded)
    runtime.log.info("QC summary:\n%s", table.to_string(index=False))
    write_tsv(table, smk.output[0])


runtime.run(snakemake, main)  # noqa: F821
