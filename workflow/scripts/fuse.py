"""Snakemake script for rule fuse: late fusion of a setting's modalities in one fold, fitted on the fold's
validation rows, and its metrics on the fold's test rows."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

import pandas as pd  # noqa: E402

from emoflow import fusion, runtime  # noqa: E402
from emoflow.errors import DataError  # noqa: E402
from emoflow.io import write_json, write_parquet  # noqa: E402
from emoflow.predictions import combine_seeds, read_predictions  # noqa: E402
from emoflow.split import fold_view  # noqa: E402


def training_prior(segments_path, folds_path, fold):
    """The class prior of the fold's training split (product fusion divides by it)."""
    tables = []
    for path in (segments_path, folds_path):
        try:
            tables.append(pd.read_parquet(path))
        except Exception as exc:
            raise DataError(path, f"cannot read the table ({exc})") from exc
    return fusion.segments_prior(fold_view(*tables, fold, folds_path), segments_path)


def main(smk):
    method, fold = smk.params.method, int(smk.params.fold)
    tables, sources = {}, {}
    for m in smk.params.modalities:
        parts = [str(p) for p in getattr(smk.input, m)]
        sources[m] = ", ".join(parts)
        tables[m] = combine_seeds({p: read_predictions(p) for p in parts}, sources[m])
    needs_prior = method in ("product", fusion.AUTO)
    prior = training_prior(smk.input.segments, smk.input.folds, fold) if needs_prior else None
    result = fusion.run_setting(tables, sources, smk.wildcards.setting, method, int(smk.params.seed), fold,
                                calibrate=bool(smk.params.calibrate), prior=prior)
    write_parquet(result.predictions, smk.output.predictions)
    write_json(result.metrics, smk.output.metrics)


runtime.run(snakemake, main)  # noqa: F821
