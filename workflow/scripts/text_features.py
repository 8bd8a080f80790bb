"""Snakemake script for rule text_features: transcripts -> input_ids / attention_mask for every segment."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

from emoflow import runtime  # noqa: E402
from emoflow.features.text import tokenize_segments  # noqa: E402


def main(smk):
    tokenize_segments(
        smk.input.segments,
        smk.input.backbone,
        smk.output.features,
        smk.output.qc,
        tag_policy=smk.params.tag_policy,
        max_length=smk.params.max_length,
        max_missing=smk.params.max_missing,
    )


runtime.run(snakemake, main)  # noqa: F821
