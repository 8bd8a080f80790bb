"""Snakemake script for rule fuse: late fusion of a setting's modalities and its test metrics."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

import pandas as pd  # noqa: E402

from emoflow import fusion, runtime  # noqa: E402
from emoflow.errors import DataError  # noqa: E402
from emoflow.io import write_figure, write_json, write_parquet  # noqa: E402
from emoflow.plots import confusion_figure  # noqa: E402
from emoflow.predictions import read_predictions  # noqa: E402


def training_prior(path):
    """The training split's class prior (product fusion divides by it)."""
    try:
        segments = pd.read_parquet(path, columns=["emotion", "split"])
    except Exception as exc:
        raise DataError(path, f"cannot read the segments table ({exc})") from exc
    return fusion.segments_prior(segments, path)


def main(smk):
    method = smk.params.method
    sources = fusion.modality_sources(list(smk.input.predictions), list(smk.params.modalities))
    tables = {m: read_predictions(p) for m, p in sources.items()}
    prior = training_prior(smk.input.segments) if method == "product" else None
    result = fusion.run_setting(tables, sources, smk.wildcards.setting, method, int(smk.params.seed),
                                calibrate=bool(smk.params.calibrate), prior=prior)
    write_parquet(result.predictions, smk.output.predictions)
    write_json(result.metrics, smk.output.metrics)
    write_figure(confusion_figure(result.metrics["confusion"], title=result.title), smk.output.confusion)


runtime.run(snakemake, main)  # noqa: F821
