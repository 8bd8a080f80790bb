"""Snakemake script for rule train: fit one modality's model for one seed and predict val/test."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

from emoflow import runtime  # noqa: E402


def main(smk):
    modality = smk.wildcards.modality
    outputs = {k: str(getattr(smk.output, k)) for k in ("model", "config", "preprocessing", "curve", "curve_png",
                                               "predictions")}
    common = {"outputs": outputs, "params": dict(smk.params.train), "seed": int(smk.params.seed)}
    if modality == "bio":
        from emoflow.models import bio

        bio.train(smk.input.segments, smk.input.features, **common)
    elif modality == "audio":
        from emoflow.models import audio

        audio.train(smk.input.segments, smk.input.array, smk.input.features, **common)
    elif modality == "text":
        from emoflow.models import text

        text.train(smk.input.segments, smk.input.features, smk.input.backbone, **common)
    else:
        raise ValueError(f"unknown modality {modality!r}")


runtime.run(snakemake, main)  # noqa: F821
