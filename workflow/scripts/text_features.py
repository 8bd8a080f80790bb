"""Snakemake script for rule text_features: transcripts -> input_ids / attention_mask for every segment."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

import pandas as pd  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from emoflow import runtime  # noqa: E402
from emoflow.features.text.tokenizer import load_tokenizer_for  # noqa: E402
from emoflow.features.text.tokens import text_table, tokenize_segments  # noqa: E402
from emoflow.io import atomic_path, write_tsv  # noqa: E402
from emoflow.qc import check_missing  # noqa: E402


def main(smk):
    segments = pd.read_parquet(smk.input.segments)
    tokenizer = load_tokenizer_for(smk.input.backbone, smk.params.max_length)
    features, qc_table = tokenize_segments(segments, tokenizer, tag_policy=smk.params.tag_policy,
                                           overlap=smk.params.overlap, max_length=smk.params.max_length,
                                           source=smk.input.segments)
    write_tsv(qc_table, smk.output.qc)
    check_missing("text", features["ok"], smk.params.max_missing)
    with atomic_path(smk.output.features) as tmp:
        pq.write_table(text_table(features), tmp)


runtime.run(snakemake, main)  # noqa: F821
