"""Snakemake script for rule build_text_backbone: tokenizer trained on the training split + small BERT."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

from emoflow import runtime  # noqa: E402
from emoflow.features.text import build_backbone  # noqa: E402


def main(smk):
    build_backbone(
        smk.input.segments,
        smk.output[0],
        vocab_size=smk.params.vocab_size,
        tag_policy=smk.params.tag_policy,
        max_length=smk.params.max_length,
        backbone=dict(smk.params.backbone),
        seed=smk.params.seed,
    )


runtime.run(snakemake, main)  # noqa: F821
