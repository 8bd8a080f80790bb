"""Snakemake script for rule index_segments: speaker-perspective segment index, exclusions and folds."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

from emoflow import runtime  # noqa: E402
from emoflow.io import write_json, write_parquet, write_tsv  # noqa: E402
from emoflow.reader import index_dataset  # noqa: E402


def main(smk):
    segments, folds, excluded, summary = index_dataset(
        smk.params.data_dir, smk.params.sessions, dict(smk.params.labels), dict(smk.params.split), smk.params.dataset
    )
    write_tsv(excluded, smk.output.excluded)
    write_json(summary, smk.output.summary)
    write_parquet(folds, smk.output.folds)
    write_parquet(segments, smk.output.segments)


runtime.run(snakemake, main)  # noqa: F821
