"""Snakemake script for rule qc_summary: one QC table (index exclusions + per-modality feature QC)."""
import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

import pandas as pd  # noqa: E402

from emoflow import runtime  # noqa: E402
from emoflow.io import write_tsv  # noqa: E402
from emoflow.qc import summarise  # noqa: E402


def main(smk):
    excluded = pd.read_csv(smk.input.excluded, sep="\t", dtype=str, keep_default_na=False)

    def read(path, modality=None):
        dtypes = {"reason": str, "status": str, "modality": str}
        table = pd.read_csv(path, sep="\t", keep_default_na=False, dtype=dtypes)
        return table if modality is None else table.assign(modality=modality)

    # the text QC of every fold (its tokenizer is the fold's), named text/fold<k>
    text = [read(p, f"text/{Path(p).stem}") for p in smk.input.text]
    tables = [read(smk.input.bio), *text, read(smk.input.audio)]
    table = summarise(tables, excluded)
    runtime.log.info("QC summary:\n%s", table.to_string(index=False))
    write_tsv(table, smk.output[0])


runtime.run(snakemake, main)  # noqa: F821
