"""Snakemake script for rule audio_features: one session's clips -> fixed-length float16 array + index."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

from emoflow import runtime  # noqa: E402
from emoflow.features.audio import extract_session  # noqa: E402


def main(smk):
    extract_session(
        smk.input.segments,
        smk.wildcards.session,
        smk.params.data_dir,
        smk.output.array,
        smk.output.index,
        **dict(smk.params.settings),
    )


runtime.run(snakemake, main)  # noqa: F821
