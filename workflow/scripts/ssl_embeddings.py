"""Snakemake script for rule ssl_embeddings: one session's whole utterances through a frozen pretrained speech
encoder -> per-layer, time-pooled hidden states [n, layers, dim] + index by segment_id."""
import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")  # noqa: F821

import os  # noqa: E402

import pandas as pd  # noqa: E402

from emoflow import runtime  # noqa: E402
from emoflow.features.audio import session_segments  # noqa: E402
from emoflow.features.ssl import extract_session, inference_device, load_encoder  # noqa: E402
from emoflow.io import write_npy, write_parquet  # noqa: E402


def main(smk):
    session, p = smk.wildcards.session, smk.params
    part = session_segments(pd.read_parquet(smk.input.segments), session, source=smk.input.segments)
    wav_files = [os.path.join(p.data_dir, rel) for rel in part["wav_path"]]
    device = inference_device(p.device)
    enc = load_encoder(smk.input.encoder)
    enc.model.to(device)
    array, index = extract_session(part, wav_files, session, enc, window_seconds=p.window_seconds,
                                   min_seconds=p.min_seconds, device=device)
    write_npy(array, smk.output.array)
    write_parquet(index, smk.output.index)


runtime.run(snakemake, main)  # noqa: F821
