"""Snakemake script for rule build_text_backbone: tokenizer trained on one fold's training split + small BERT."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

import pandas as pd  # noqa: E402

from emoflow import runtime  # noqa: E402
from emoflow.models.backbone import build_backbone, save_backbone  # noqa: E402
from emoflow.split import fold_view  # noqa: E402


def main(smk):
    segments = fold_view(pd.read_parquet(smk.input.segments), pd.read_parquet(smk.input.folds),
                         int(smk.params.fold), smk.input.folds)
    backbone = build_backbone(
        segments,
        vocab_size=smk.params.vocab_size,
        tag_policy=smk.params.tag_policy,
        overlap=smk.params.overlap,
        max_length=smk.params.max_length,
        backbone=dict(smk.params.backbone),
        seed=smk.params.seed,
        source=smk.input.segments,
    )
    save_backbone(backbone, smk.output[0])


runtime.run(snakemake, main)  # noqa: F821
