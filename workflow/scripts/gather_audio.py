"""Snakemake script for rule gather_audio: per-session arrays -> one float16 array + index by segment_id."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

from emoflow import runtime  # noqa: E402
from emoflow.features.audio import gather_sessions  # noqa: E402


def main(smk):
    gather_sessions(
        smk.input.segments,
        list(smk.input.arrays),
        list(smk.input.indexes),
        smk.output.array,
        smk.output.index,
        smk.output.qc,
        max_missing=smk.params.max_missing,
    )


runtime.run(snakemake, main)  # noqa: F821
