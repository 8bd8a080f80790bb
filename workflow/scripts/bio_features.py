"""Snakemake script for rule bio_features: one signal's features for one participant's segments.

The signal's module is loaded at run time by name (``emoflow.features.bio.registry``), never imported
here, so that editing one signal's module reruns only that signal's jobs.
"""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

import pandas as pd  # noqa: E402

from emoflow import runtime  # noqa: E402
from emoflow.features.bio.extract import (  # noqa: E402
    SEGMENT_KEYS,
    participant_features,
    participant_segments,
    read_participant,
)
from emoflow.io import write_parquet  # noqa: E402


def main(smk):
    signal, settings = smk.wildcards.signal, dict(smk.params.settings)
    segments = pd.read_parquet(smk.input.segments, columns=SEGMENT_KEYS)
    segment_ids = participant_segments(segments, smk.wildcards.participant)
    rec = read_participant(smk.params.raw, signal, segment_ids, settings)
    write_parquet(participant_features(signal, rec, segment_ids, settings), smk.output[0])


runtime.run(snakemake, main)  # noqa: F821
