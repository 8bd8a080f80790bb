"""Snakemake script for rule gather_ssl: per-session embeddings -> one array + index by segment_id + QC."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from emoflow import runtime  # noqa: E402
from emoflow.features.ssl import gather  # noqa: E402
from emoflow.io import write_npy, write_parquet, write_tsv  # noqa: E402
from emoflow.qc import check_missing, qc_table  # noqa: E402


def main(smk):
    segments = pd.read_parquet(smk.input.segments)
    if len(smk.input.arrays) != len(smk.input.indexes):
        raise ValueError("arrays and indexes differ in length")
    sessions = [(path, np.load(path, mmap_mode="r"), pd.read_parquet(index))
                for path, index in zip(smk.input.arrays, smk.input.indexes)]
    array, index = gather(segments, sessions, source=smk.input.segments)
    write_npy(array, smk.output.array)
    write_parquet(index, smk.output.index)
    write_tsv(qc_table("audio", index["ok"], index["reason"]), smk.output.qc)
    check_missing("audio", index["ok"], smk.params.max_missing)


runtime.run(snakemake, main)  # noqa: F821
