"""Snakemake script for rule audio_logmel: the gathered waveform windows -> their log-mel features (float32)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from emoflow import runtime  # noqa: E402
from emoflow.errors import DataError  # noqa: E402
from emoflow.features.logmel import logmel_array  # noqa: E402
from emoflow.io import write_npy  # noqa: E402


def main(smk):
    index = pd.read_parquet(smk.input.index)
    waves = np.load(smk.input.array, mmap_mode="r")
    if "n_windows" not in index.columns or int(index["n_windows"].sum()) != len(waves):
        raise DataError(smk.input.array, f"{len(waves)} rows, but {smk.input.index} does not list as many windows")
    features = logmel_array(waves, int(smk.params.sample_rate))
    runtime.log.info("log-mel features of %d windows: %s float32, %.1f MB", len(waves), features.shape,
                     features.nbytes / 1e6)
    write_npy(features, smk.output[0])


runtime.run(snakemake, main)  # noqa: F821
