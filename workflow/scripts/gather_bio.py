"""Snakemake script for rule gather_bio: join the bio feature parts, write QC, check missing fractions.

Every signal's module is loaded at run time by name (``emoflow.features.bio.registry``).
"""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

import logging  # noqa: E402

import pandas as pd  # noqa: E402

from emoflow import runtime  # noqa: E402
from emoflow.features.bio.gather import check_bio_missing, gather_bio  # noqa: E402
from emoflow.io import write_parquet, write_tsv  # noqa: E402


def main(smk):
    segments = pd.read_parquet(smk.input.segments)
    parts = {str(path): pd.read_parquet(path) for path in smk.input.parts}
    features, qc_table = gather_bio(segments, parts, dict(smk.params.settings), source=smk.input.segments)
    logging.getLogger("emoflow.gather_bio").info("QC:\n%s", qc_table.to_string(index=False))
    write_tsv(qc_table, smk.output.qc)
    check_bio_missing(segments, features, dict(smk.params.max_missing))
    write_parquet(features, smk.output.features)


runtime.run(snakemake, main)  # noqa: F821
