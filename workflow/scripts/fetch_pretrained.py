"""Snakemake script for rules fetch_pretrained (text) and fetch_ssl (audio): download a hub model once and save
it as a local folder."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

from emoflow import runtime  # noqa: E402
from emoflow.features.ssl import fetch_encoder  # noqa: E402
from emoflow.models.backbone import fetch_pretrained  # noqa: E402


def main(smk):
    fetch = {"text": fetch_pretrained, "audio": fetch_encoder}[smk.params.kind]
    fetch(smk.params.name, smk.output[0], revision=smk.params.revision)


runtime.run(snakemake, main)  # noqa: F821
