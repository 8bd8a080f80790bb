"""Snakemake script for rule fuse: late fusion of a setting's modalities and its test metrics."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

from emoflow import runtime  # noqa: E402
from emoflow.fusion import run_setting  # noqa: E402


def main(smk):
    run_setting(
        list(smk.input.predictions),
        list(smk.params.modalities),
        method=smk.params.method,
        seed=int(smk.params.seed),
        setting=smk.wildcards.setting,
        out_predictions=smk.output.predictions,
        out_metrics=smk.output.metrics,
        out_confusion=smk.output.confusion,
        calibrate=bool(smk.params.calibrate),
        segments_path=smk.input.segments,
    )


runtime.run(snakemake, main)  # noqa: F821
