"""Snakemake script for rule train: fit one modality's model for one seed and predict val/test."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

import pandas as pd  # noqa: E402

from emoflow import runtime  # noqa: E402
from emoflow.io import write_csv, write_figure, write_json, write_parquet  # noqa: E402
from emoflow.models import registry, training  # noqa: E402
from emoflow.plots import curve_figure  # noqa: E402
from emoflow.predictions import checked  # noqa: E402
from emoflow.split import fold_view  # noqa: E402


def main(smk):
    modality, seed, fold = smk.wildcards.modality, int(smk.params.seed), int(smk.params.fold)
    encoder = registry.encoder(modality, smk.params.encoder)
    adapter = registry.load(modality, smk.params.encoder)
    settings = training.TrainSettings.from_params(dict(smk.params.train))
    view = fold_view(pd.read_parquet(smk.input.segments), pd.read_parquet(smk.input.folds), fold, smk.input.folds)
    segments = training.check_segments(view, smk.input.segments)
    names = encoder.inputs_for(settings.extra)  # an encoder's frozen and fine-tune modes may read different inputs
    inputs = adapter.read_inputs({name: str(getattr(smk.input, name)) for name in names})

    result = training.train(adapter, segments, inputs, settings, seed, fold)

    out = smk.output
    adapter.save_checkpoint(result.model, result.config, out.model, out.config)
    write_json(result.preprocessing, out.preprocessing)
    write_csv(result.history[training.CURVE_COLUMNS], out.curve, float_format="%.6g")
    fig = curve_figure(result.history, result.best_epoch, title=f"{modality} model, fold {fold}, seed {seed}")
    write_figure(fig, out.curve_png, dpi=100, tight=False)
    write_parquet(checked(result.predictions, out.predictions), out.predictions)


runtime.run(snakemake, main)  # noqa: F821
