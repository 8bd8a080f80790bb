"""Snakemake script for rule egemaps_features: one session's whole utterances -> openSMILE functionals."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

import os  # noqa: E402

import pandas as pd  # noqa: E402

from emoflow import runtime  # noqa: E402
from emoflow.features.audio import session_segments  # noqa: E402
from emoflow.features.egemaps import extract_session  # noqa: E402
from emoflow.io import write_parquet  # noqa: E402


def main(smk):
    session = smk.wildcards.session
    part = session_segments(pd.read_parquet(smk.input.segments), session, source=smk.input.segments)
    wav_files = [os.path.join(smk.params.data_dir, rel) for rel in part["wav_path"]]
    table = extract_session(part, wav_files, session, **dict(smk.params.settings))
    write_parquet(table, smk.output[0])


runtime.run(snakemake, main)  # noqa: F821
