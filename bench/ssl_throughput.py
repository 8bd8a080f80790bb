#!/usr/bin/env python
"""Frozen speech-encoder extraction on CPU (audio.encoder ssl): utterances per second and seconds per hour of
audio, through the code the ``ssl_embeddings`` jobs run (``features.ssl.embed_clip``, one clip at a time).

Models: the tiny wav2vec2 of the tests and a base-size one (``Wav2Vec2Config()``: 12 layers, 768 wide, 95 M
parameters, the architecture of facebook/wav2vec2-base), both randomly initialised, which costs the same as
the real weights. Input: ``--clips`` clips of ``--seconds`` s of noise at 16 kHz. Reported per model and
torch thread count: wall time, the process's CPU time (what the run costs on an idle core: the wall time
grows with the load of a shared machine, the CPU time much less) and the load average.

Usage:
    python bench/ssl_throughput.py [--clips 20] [--seconds 4] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

sys.path.insert(0, str(common.ROOT / "workflow" / "src"))
sys.path.insert(0, str(common.ROOT / "tests"))

NAME = "ssl_throughput"


def build(root: Path) -> dict[str, Path]:
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    import _ssl_models

    folders = {"tiny": _ssl_models.speech_encoder(root / "tiny", "wav2vec2"), "base": root / "base"}
    torch.manual_seed(0)
    Wav2Vec2Model(Wav2Vec2Config()).save_pretrained(folders["base"])
    Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(folders["base"])
    return folders


def measure(folder: Path, clips: list[np.ndarray], threads: int, window_seconds: float) -> dict:
    import torch

    from emoflow.features import ssl

    torch.set_num_threads(threads)
    enc = ssl.load_encoder(folder)
    ssl.embed_clip(enc, clips[0], window_seconds)  # warm-up
    t0, c0, load0 = time.perf_counter(), time.process_time(), common.loadavg()
    for clip in clips:
        ssl.embed_clip(enc, clip, window_seconds)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    audio_s = sum(len(c) for c in clips) / enc.sampling_rate
    return {"parameters": sum(p.numel() for p in enc.model.parameters()), "threads": threads,
            "clips": len(clips), "audio_s": audio_s, "wall_s": wall, "cpu_s": cpu,
            "utterances_per_s": len(clips) / wall, "s_per_hour_of_audio": 3600 * wall / audio_s,
            "cpu_s_per_hour_of_audio": 3600 * cpu / audio_s, "loadavg_before": load0,
            "loadavg_after": common.loadavg()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    clips = [(0.3 * rng.normal(size=int(args.seconds * 16000))).astype(np.float32) for _ in range(args.clips)]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, folder in build(Path(tmp)).items():
            for threads in args.threads:
                r = measure(folder, clips, threads, window_seconds=args.seconds)
                rows[f"{name}/threads{threads}"] = r
                print(f"{name} ({r['parameters'] / 1e6:.2f} M parameters), {threads} thread(s): "
                      f"{r['utterances_per_s']:.2f} utterances/s, {r['s_per_hour_of_audio']:.0f} s per hour of audio "
                      f"(CPU {r['cpu_s_per_hour_of_audio']:.0f} s), load {r['loadavg_before'][0]:.1f}", flush=True)
    path = common.save(NAME, {"machine": common.machine(), "clip_seconds": args.seconds, "results": rows})
    print(f"wrote {common.rel(path)}")


if __name__ == "__main__":
    main()
