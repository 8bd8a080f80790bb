"""Snakemake script for rule oracle: Bayes-optimal figures of each setting from the known cue model."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

import pandas as pd  # noqa: E402

from emoflow import runtime  # noqa: E402
from emoflow.io import write_json  # noqa: E402
from emoflow.oracle import compute_oracle, load_cue_model, read_cues  # noqa: E402


def main(smk):
    segments = pd.read_parquet(smk.input.segments)
    model = load_cue_model(smk.params.truth_dir)
    cues, cues_path = read_cues(smk.params.truth_dir)
    write_json(compute_oracle(segments, model, cues, cues_path), smk.output[0])


runtime.run(snakemake, main)  # noqa: F821
