#!/usr/bin/env python
"""Training-step throughput of the three models, with 1 and 2 torch threads and two OpenMP wait policies.

The models are built exactly as the workflow builds them (``emoflow.models``: the bio MLP, the audio CNN
``arch: small``, the text BERT from the backbone folder of the full-size run, or a BERT of the default size
when that folder is absent), with deterministic algorithms switched on as in training. Inputs are random
tensors of the real shapes (bio: 20 inputs; audio: 4 s at 16 kHz; text: 64 tokens); each step is
forward + cross-entropy + backward + AdamW at the configured batch size.

Every measurement runs in a fresh interpreter (the OpenMP wait policy, ``OMP_WAIT_POLICY``, is read once
when torch loads its OpenMP runtime): settings ``1``, ``2`` (torch threads, default policy) and
``2 passive`` (2 threads, ``OMP_WAIT_POLICY=PASSIVE``: waiting threads sleep instead of spinning).
Settings alternate within each repeat, so their ratios are same-run comparisons. GPU figures are added
when CUDA is available.

Usage:
    python bench/training.py --repeat 3 --seconds 3
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

BATCH = {"bio": 16, "audio": 32, "text": 32}
SETTINGS = {"cpu_1": (1, None), "cpu_2": (2, None), "cpu_2_passive": (2, "PASSIVE")}


def build(modality: str, backbone: Path | None):
    import torch

    if modality == "bio":
        from emoflow.models.bio import BioMLP

        n_in = 20  # 17 features + 3 missing indicators
        return BioMLP(n_in, [64, 32], 0.1), lambda b: (torch.randn(b, n_in),)
    if modality == "audio":
        from emoflow.models.audio import ARCHS, AudioCNN

        return AudioCNN(ARCHS["small"]), lambda b: (torch.randn(b, 1, 64000),)
    from emoflow.models.text import load_backbone

    if backbone is not None and backbone.is_dir():
        model = load_backbone(backbone)
    else:
        from transformers import BertConfig, BertForSequenceClassification

        model = BertForSequenceClassification(BertConfig(vocab_size=1000, hidden_size=128,
                                                         num_hidden_layers=2,
                                                         num_attention_heads=4, intermediate_size=256,
                                                         max_position_embeddings=64, num_labels=7))
    vocab = model.config.vocab_size
    return model, lambda b: (torch.randint(5, vocab, (b, 64)), torch.ones(b, 64, dtype=torch.long))


def worker(modality: str, threads: int, seconds: float, device_name: str, backbone: Path) -> float:
    """Samples per second of training steps (runs in its own interpreter)."""
    sys.path.insert(0, str(common.ROOT / "workflow" / "src"))
    import torch

    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    device = torch.device(device_name)
    model, make = build(modality, backbone)
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    b = BATCH[modality]
    batches = [[t.to(device) for t in make(b)] for _ in range(4)]
    y = torch.randint(0, 7, (b,), device=device)

    def step(i):
        inputs = batches[i % 4]
        if modality == "text":
            logits = model(input_ids=inputs[0], attention_mask=inputs[1]).logits
        else:
            logits = model(inputs[0])
        loss = loss_fn(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for i in range(3):  # warm-up
        step(i)
    if device.type == "cuda":
        torch.cuda.synchronize()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        step(n)
        n += 1
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n * b / (time.perf_counter() - t0)


def measure(modality, threads, policy, seconds, device, backbone) -> float:
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    cmd = [common.PYTHON, __file__, "--worker", modality, "--threads", str(threads),
           "--seconds", str(seconds), "--device", device, "--backbone", str(backbone)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0, help="timed seconds per model and setting")
    ap.add_argument("--backbone", type=Path, default=common.WORK / "full" / "results" / "text" / "backbone")
    ap.add_argument("--worker", choices=list(BATCH), help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(worker(args.worker, args.threads, args.seconds, args.device, args.backbone))
        return 0

    probe = subprocess.run([common.PYTHON, "-c", "import torch; print(torch.cuda.is_available())"],
                           capture_output=True, text=True)
    cuda = probe.stdout.strip() == "True"
    settings = dict(SETTINGS)
    if cuda:
        settings["cuda"] = (2, None)
    res = {m: {k: [] for k in settings} for m in BATCH}
    load0 = common.loadavg()
    for _ in range(args.repeat):
        for m in BATCH:
            for k, (threads, policy) in settings.items():
                device = "cuda" if k == "cuda" else "cpu"
                sps = measure(m, threads, policy, args.seconds, device, args.backbone)
                res[m][k].append(sps)
                print(f"  {m} {k}: {sps:,.0f} samples/s", flush=True)
    out = {"repeat": args.repeat, "seconds": args.seconds, "batch": BATCH, "load_before": load0,
           "load": common.loadavg(), "settings": {k: {"threads": t, "OMP_WAIT_POLICY": p or "default"}
                                                  for k, (t, p) in settings.items()},
           "command": f"python bench/training.py --repeat {args.repeat} --seconds {args.seconds:g}",
           "cuda": cuda, "models": {}}
    for m, d in res.items():
        out["models"][m] = {k: {"median": common.median(v), "all": v} for k, v in d.items()}
        out["models"][m]["ratio_2_over_1_threads"] = common.median_ratio(d["cpu_2"], d["cpu_1"])
        out["models"][m]["ratio_2passive_over_2"] = common.median_ratio(d["cpu_2_passive"], d["cpu_2"])
        out["models"][m]["ratio_2passive_over_1"] = common.median_ratio(d["cpu_2_passive"], d["cpu_1"])
    common.save("training_steps", out)
    for m, d in out["models"].items():
        print(m, {k: (round(v["median"]) if isinstance(v, dict) else round(v, 2)) for k, v in d.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
