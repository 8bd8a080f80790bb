"""Snakemake script for rule qc_summary: one QC table (index exclusions + per-modality feature QC)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

import pandas as pd  # noqa: E402

from emoflow import runtime  # noqa: E402
from emoflow.io import write_tsv  # noqa: E402
from emoflow.qc import summarise  # noqa: E402


def main(smk):
    excluded = pd.read_csv(smk.input.excluded, sep="\t", dtype=str, keep_default_na=False)
    tables = [pd.read_csv(p, sep="\t", keep_default_na=False, dtype={"reason": str, "status": str, "modality": str})
              for p in (smk.input.bio, smk.input.text, smk.input.audio)]
    table = summarise(tables, excluded)
    runtime.log.info("QC summary:\n%s", table.to_string(index=False))
    write_tsv(table, smk.output[0])


runtime.run(snakemake, main)  # noqa: F821
