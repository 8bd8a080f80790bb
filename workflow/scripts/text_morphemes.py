"""Snakemake script for rule text_morphemes: every transcript -> kiwipiepy morphemes (form/TAG)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

import pandas as pd  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from emoflow import runtime  # noqa: E402
from emoflow.features.text.morphemes import arrow_table, morpheme_table  # noqa: E402
from emoflow.io import atomic_path, write_tsv  # noqa: E402
from emoflow.qc import check_missing  # noqa: E402


def main(smk):
    segments = pd.read_parquet(smk.input.segments)
    table, qc_table = morpheme_table(segments, tag_policy=smk.params.tag_policy, overlap=smk.params.overlap,
                                     source=smk.input.segments)
    write_tsv(qc_table, smk.output.qc)
    check_missing("text", table["ok"], smk.params.max_missing)
    with atomic_path(smk.output.features) as tmp:
        pq.write_table(arrow_table(table), tmp)


runtime.run(snakemake, main)  # noqa: F821
