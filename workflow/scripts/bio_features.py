"""Snakemake script for rule bio_features: one signal's features for one participant's segments."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

from emoflow import runtime  # noqa: E402
from emoflow.features.biosignals import extract_participant  # noqa: E402
from emoflow.io import write_parquet  # noqa: E402


def main(smk):
    df = extract_participant(
        signal=smk.wildcards.signal,
        participant=smk.wildcards.participant,
        raw=list(smk.input.raw),
        segments=smk.input.segments,
        settings=dict(smk.params.settings),
        data_dir=smk.params.data_dir,
    )
    write_parquet(df, smk.output[0])


runtime.run(snakemake, main)  # noqa: F821
