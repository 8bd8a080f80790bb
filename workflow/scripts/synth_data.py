"""Snakemake script for rule synth_data: generate the synthetic stand-in (KEMDy19 or KEMDy20 layout) and its
manifest."""
import shutil
import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

from emoflow import runtime  # noqa: E402
from emoflow.synth import generate  # noqa: E402


def main(smk):
    root = Path(smk.output.root)
    if root.exists():  # never mix a previous generation's files into this one
        shutil.rmtree(root)
    synthetic = dict(smk.params.synthetic)
    generate(root, synthetic, smk.output.manifest, synthetic.get("layout", "kemdy19"))


runtime.run(snakemake, main)  # noqa: F821
