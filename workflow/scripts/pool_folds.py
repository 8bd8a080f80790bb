"""Snakemake script for rule pool_folds: a setting's fold predictions pooled (every utterance tested once
per seed), its metrics on the pooled test rows and its confusion matrix."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

import pandas as pd  # noqa: E402

from emoflow import fusion, runtime  # noqa: E402
from emoflow.io import read_json, write_figure, write_json, write_parquet  # noqa: E402
from emoflow.plots import confusion_figure  # noqa: E402


def main(smk):
    folds = [fusion.SettingResult(pd.read_parquet(p), read_json(m))
             for p, m in zip(smk.input.predictions, smk.input.metrics)]
    result = fusion.pool_folds(folds)
    write_parquet(result.predictions[result.predictions["split"] == "test"].reset_index(drop=True),
                  smk.output.predictions)
    write_json(result.metrics, smk.output.metrics)
    write_figure(confusion_figure(result.metrics["confusion"], title=result.title), smk.output.confusion)


runtime.run(snakemake, main)  # noqa: F821
