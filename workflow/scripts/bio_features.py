"""Snakemake script for rule bio_features: one signal's features for the segments of one job's bio files
(a KEMDy19 participant file, or the user-script files of a KEMDy20 session).

The signal's module is loaded at run time by name (``emoflow.features.bio.registry``), never imported
here, so that editing one signal's module reruns only that signal's jobs.
"""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

import pandas as pd  # noqa: E402

from emoflow import runtime  # noqa: E402
from emoflow.features.bio.extract import SEGMENT_KEYS, unit_features  # noqa: E402
from emoflow.io import write_parquet  # noqa: E402


def main(smk):
    signal, settings = smk.wildcards.signal, dict(smk.params.settings)
    segments = pd.read_parquet(smk.input.segments, columns=SEGMENT_KEYS)
    features = unit_features(signal, smk.wildcards.participant, segments, smk.params.data_dir, settings,
                             dict(smk.params.align))
    write_parquet(features, smk.output[0])


runtime.run(snakemake, main)  # noqa: F821
