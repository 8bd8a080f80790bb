"""Snakemake script for rule data_figures: one participant's bio signals over a dialogue with its segment
boundaries, and the per-class distributions of the main features (emoflow.dataview)."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

import pandas as pd  # noqa: E402

from emoflow import dataview, plots, runtime  # noqa: E402
from emoflow.io import write_figure  # noqa: E402


def main(smk):
    segments = pd.read_parquet(smk.input.segments)
    view = dataview.dialogue_view(segments, smk.params.units, smk.params.data_dir, smk.params.signals,
                                  {s: dict(smk.params.settings[s]) for s in smk.params.signals},
                                  dict(smk.params.align))
    runtime.log.info("signals of %s over %s: %s drawn; not drawn: %s", view.participant, view.dialogue,
                     [t.signal for t in view.traces], view.missing or "none")
    write_figure(plots.dialogue_signals_figure(view), smk.output.signals)
    tables = [pd.read_parquet(p) for p in smk.input.features]
    frame, present = dataview.feature_frame(segments, tables)
    runtime.log.info("feature distributions: %s", [c for c, _ in present])
    write_figure(plots.feature_distribution_figure(frame, present), smk.output.features)


runtime.run(snakemake, main)  # noqa: F821
