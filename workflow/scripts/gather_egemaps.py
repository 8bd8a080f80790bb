"""Snakemake script for rule gather_egemaps: per-session openSMILE tables -> one table by segment_id + QC."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

import pandas as pd  # noqa: E402

from emoflow import runtime  # noqa: E402
from emoflow.features.egemaps import gather  # noqa: E402
from emoflow.io import write_parquet, write_tsv  # noqa: E402
from emoflow.qc import check_missing  # noqa: E402


def main(smk):
    segments = pd.read_parquet(smk.input.segments)
    parts = [(path, pd.read_parquet(path)) for path in smk.input.parts]
    table, qc_table = gather(segments, parts, source=smk.input.segments)
    write_parquet(table, smk.output.features)
    write_tsv(qc_table, smk.output.qc)
    check_missing("audio", table["ok"], smk.params.max_missing)


runtime.run(snakemake, main)  # noqa: F821
