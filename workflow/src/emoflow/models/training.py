"""Training mechanics shared by the three per-modality models.

One run = one modality and one seed:

1. ``seed_everything`` seeds Python, NumPy and torch and returns the ``torch.Generator`` that orders the
   training batches; ``configure_device`` picks CPU or CUDA (config ``device``) and turns on
   deterministic algorithms, so the same seed on the same machine gives byte-identical checkpoints.
2. ``fit`` trains with AdamW and cross-entropy on logits (optionally weighted by inverse training-class
   frequency, optionally label-smoothed), with a per-batch learning-rate schedule (``schedule``:
   constant, cosine or linear decay to 0 at the last planned step, after a linear warm-up over the
   ``warmup`` fraction of the steps), evaluates the VALIDATION split after every epoch, keeps the best
   epoch (``select``: ``f1`` = macro F1, ties broken by the lower validation loss; ``loss`` = validation
   cross-entropy, ties broken by the higher macro F1 -- the epoch with the best-calibrated
   probabilities, which late fusion multiplies), stops early after ``patience`` epochs without
   improvement (0 = never) and restores the best weights. The test split is never seen here: ``fit`` and
   ``run_training`` assert it.
3. ``run_training`` wires it together for a modality: fit, predict every validation and test segment,
   write the checkpoint (safetensors), ``config.json``, ``preprocessing.json``, the learning curve
   (``curve.csv`` + ``curve.png``) and ``predictions.parquet``.

Segments a modality cannot use (audio that failed to load) are left out of training and selection and
get the *training prior* as their prediction: the class frequencies of the training split with add-one
smoothing. Every validation and test segment therefore has probabilities and every Table 1 setting is
scored on the same test set.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..constants import EMOTIONS, PROB_COLUMNS, SPLITS
from ..errors import DataError
from ..io import atomic_path, write_csv, write_json

log = logging.getLogger(__name__)

N_CLASSES = len(EMOTIONS)
LABEL_INDEX = {e: i for i, e in enumerate(EMOTIONS)}
CURVE_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_f1_macro", "seconds"]

SCHEDULES = ("constant", "cosine", "linear")
SELECT = ("f1", "loss")

# Inputs of one batch -> logits [batch, N_CLASSES].
Forward = Callable[[nn.Module, Sequence[torch.Tensor]], torch.Tensor]


# --------------------------------------------------------------------------------------------------
# Settings, seeding, device
# --------------------------------------------------------------------------------------------------
@dataclass
class TrainSettings:
    """The hyperparameters every modality shares (rule param ``train``); extras stay in ``extra``."""

    batch_size: int = 32
    lr: float = 1e-3
    epochs: int = 30
    weight_decay: float = 1e-4
    patience: int = 10
    class_weights: bool = False
    device: str = "auto"
    schedule: str = "constant"
    warmup: float = 0.0
    label_smoothing: float = 0.0
    select: str = "f1"
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_params(cls, params: dict) -> "TrainSettings":
        params = dict(params)
        known = {k: params.pop(k) for k in list(params) if k in cls.__dataclass_fields__ and k != "extra"}
        s = cls(**known, extra=params)
        if s.batch_size < 1 or s.epochs < 1 or s.patience < 0 or s.lr <= 0:
            raise ValueError(f"invalid training settings: {s}")
        if s.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, not {s.schedule!r}")
        if s.select not in SELECT:
            raise ValueError(f"select must be one of {SELECT}, not {s.select!r}")
        if not 0 <= s.warmup < 1 or not 0 <= s.label_smoothing < 1:
            raise ValueError(f"warmup and label_smoothing must lie in [0, 1): {s}")
        if s.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, not {s.device!r}")
        return s

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "extra"}
        d.update(self.extra)
        return d


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA); return the generator for batch shuffling."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` fails clearly when there is no GPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config device is 'cuda' but torch finds no CUDA GPU (use device: auto or cpu)")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {name!r}")
    return torch.device(name)


def configure_device(name: str) -> torch.device:
    """Resolve the device, switch on deterministic algorithms and log what the run uses."""
    device = resolve_device(name)
    if device.type == "cuda":
        # Required by cuBLAS for reproducible matrix products; must be set before the first CUDA call.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        # Some CUDA kernels have no deterministic variant; warn instead of failing on those.
        torch.use_deterministic_algorithms(True, warn_only=True)
        log.info("device: cuda (%s), torch %s, CUDA %s, %d CPU threads", torch.cuda.get_device_name(device),
                 torch.__version__, torch.version.cuda, torch.get_num_threads())
    else:
        torch.use_deterministic_algorithms(True)
        log.info("device: cpu, torch %s, %d threads (config device: %s)", torch.__version__,
                 torch.get_num_threads(), name)
    return device


# --------------------------------------------------------------------------------------------------
# Segments, labels, metrics
# --------------------------------------------------------------------------------------------------
def load_segments(path) -> pd.DataFrame:
    """segments.parquet with the columns training needs, checked; adds ``label`` (class index)."""
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # unreadable parquet
        raise DataError(path, f"cannot read segments table ({exc})") from exc
    missing = [c for c in ("segment_id", "emotion", "split") if c not in df.columns]
    if missing:
        raise DataError(path, f"missing column(s) {', '.join(missing)}")
    df = df.copy()
    df["segment_id"] = df["segment_id"].astype(str)
    if df["segment_id"].duplicated().any():
        dup = df.loc[df["segment_id"].duplicated(), "segment_id"].iloc[0]
        raise DataError(path, f"duplicate segment_id {dup!r}")
    bad = ~df["emotion"].isin(EMOTIONS)
    if bad.any():
        raise DataError(path, f"{int(bad.sum())} row(s) with an unknown emotion, e.g. {df.loc[bad, 'emotion'].iloc[0]!r}")
    bad = ~df["split"].isin(SPLITS)
    if bad.any():
        raise DataError(path, f"{int(bad.sum())} row(s) with an unknown split, e.g. {df.loc[bad, 'split'].iloc[0]!r}")
    if not (df["split"] == "train").any():
        raise DataError(path, "no segment in the train split")
    df["label"] = df["emotion"].map(LABEL_INDEX).astype(np.int64)
    return df.reset_index(drop=True)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Macro F1 over the classes present in ``y_true`` or ``y_pred`` (as scikit-learn, zero_division=0)."""
    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if len(y_true) == 0:
        return 0.0
    labels = np.union1d(y_true, y_pred)
    f1s = []
    for c in labels:
        tp = np.sum((y_true == c) & (y_pred == c))
        fp = np.sum((y_true != c) & (y_pred == c))
        fn = np.sum((y_true == c) & (y_pred != c))
        denom = 2 * tp + fp + fn
        f1s.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(f1s))


def class_weight_vector(labels: np.ndarray, n_classes: int = N_CLASSES) -> torch.Tensor:
    """Inverse training frequency, n / (K * n_c), normalised to mean 1 over the classes present.

    Classes absent from training get weight 0 (no training target carries them anyway).
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(n_classes)
    w[present] = counts.sum() / (present.sum() * counts[present])
    w[present] /= w[present].mean()
    return torch.tensor(w, dtype=torch.float32)


def train_prior(labels: np.ndarray, n_classes: int = N_CLASSES) -> np.ndarray:
    """Class frequencies of the training labels with add-one smoothing (sums to 1, no zeros)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes).astype(np.float64)
    return (counts + 1.0) / (counts.sum() + n_classes)


def assert_no_test(splits: pd.Series | np.ndarray, what: str) -> None:
    """Guard: rows that reach training or model selection must never be test rows."""
    splits = np.asarray(splits)
    n_test = int(np.sum(splits == "test"))
    if n_test:  # an explicit raise, so that the guard also holds under ``python -O``
        raise AssertionError(f"{what}: {n_test} test-split row(s) would reach training or model selection")


# --------------------------------------------------------------------------------------------------
# Data sources and the training loop
# --------------------------------------------------------------------------------------------------
class Source:
    """Indexable inputs of one split: ``fetch(idx)`` returns the input tensors of those rows.

    ``labels`` (int64 class indices) and ``splits`` (split names, for the test-split guard) are kept
    beside the inputs. Batching is done by ``fit``/``predict_proba`` with a seeded permutation, which
    is all a DataLoader would do here, without worker processes.
    """

    def __init__(self, fetch: Callable[[np.ndarray], tuple[torch.Tensor, ...]], labels: np.ndarray,
                 splits: np.ndarray):
        self.fetch = fetch
        self.labels = np.asarray(labels, dtype=np.int64)
        self.splits = np.asarray(splits)
        if len(self.labels) != len(self.splits):
            raise ValueError("labels and splits differ in length")

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def from_tensors(cls, tensors: Sequence[torch.Tensor], labels, splits) -> "Source":
        tensors = tuple(tensors)
        return cls(lambda idx: tuple(t[torch.as_tensor(idx, dtype=torch.long)] for t in tensors), labels, splits)


@dataclass
class FitResult:
    history: pd.DataFrame
    best_epoch: int  # 1-based; the model holds these weights
    best_val_f1: float
    best_val_loss: float
    stopped_early: bool


def _to(batch: Sequence[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    return [t.to(device, non_blocking=False) for t in batch]


@torch.no_grad()
def predict_logits(model: nn.Module, source: Source, forward: Forward, device: torch.device,
                   batch_size: int = 64) -> np.ndarray:
    """Logits for every row of ``source`` (eval mode, in row order) as float32 [n, K]."""
    model.eval()
    out = []
    for start in range(0, len(source), batch_size):
        idx = np.arange(start, min(start + batch_size, len(source)))
        logits = forward(model, _to(source.fetch(idx), device))
        out.append(logits.float().cpu().numpy())
    if not out:
        return np.zeros((0, N_CLASSES), dtype=np.float32)
    return np.concatenate(out)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (rows sum to 1 to machine precision)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def predict_proba(model: nn.Module, source: Source, forward: Forward, device: torch.device,
                  batch_size: int = 64) -> np.ndarray:
    """Class probabilities (softmax of the logits) for every row of ``source``, float64 [n, K]."""
    return softmax(predict_logits(model, source, forward, device, batch_size))


def _evaluate(model, source, forward, device, batch_size) -> tuple[float, float, float]:
    logits = predict_logits(model, source, forward, device, batch_size)
    if len(source) == 0:
        return float("nan"), float("nan"), float("nan")
    y = source.labels
    loss = float(nn.functional.cross_entropy(torch.from_numpy(logits).double(), torch.from_numpy(y)))
    pred = logits.argmax(axis=1)
    return loss, float(np.mean(pred == y)), macro_f1(y, pred)


def lr_scheduler(optimizer: torch.optim.Optimizer, schedule: str, total_steps: int,
                 warmup: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-batch learning-rate factor: linear warm-up over ``warmup`` of the ``total_steps``, then
    constant, cosine decay to 0 or linear decay to 0 at the last planned step."""
    n_warm = int(round(warmup * total_steps))

    def factor(step: int) -> float:
        if step < n_warm:
            return (step + 1) / n_warm
        if schedule == "constant":
            return 1.0
        progress = min((step - n_warm) / max(total_steps - n_warm, 1), 1.0)
        if schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * progress))
        return 1.0 - progress

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def fit(model: nn.Module, train: Source, val: Source, settings: TrainSettings, *, generator: torch.Generator,
        device: torch.device, forward: Forward,
        augment: Callable[[list[torch.Tensor]], list[torch.Tensor]] | None = None,
        eval_batch_size: int | None = None) -> FitResult:
    """Train ``model`` in place and leave it holding the best validation epoch's weights.

    Train loss is the optimised (possibly class-weighted) cross-entropy averaged over the epoch's
    batches; validation loss is the plain cross-entropy of the eval-mode model. With an empty
    validation split the last epoch is kept (logged as a warning).
    """
    assert_no_test(train.splits, "training data")
    assert_no_test(val.splits, "validation data")
    if len(train) == 0:
        raise ValueError("no training rows")
    model.to(device)
    weights = class_weight_vector(train.labels).to(device) if settings.class_weights else None
    if weights is not None:
        log.info("class weights (inverse training frequency): %s",
                 ", ".join(f"{e}={w:.3f}" for e, w in zip(EMOTIONS, weights.tolist())))
    criterion = nn.CrossEntropyLoss(weight=weights, label_smoothing=settings.label_smoothing)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps_per_epoch = -(-len(train) // settings.batch_size)
    scheduler = lr_scheduler(optimizer, settings.schedule, settings.epochs * steps_per_epoch, settings.warmup)
    eval_bs = eval_batch_size or max(settings.batch_size, 64)
    if len(val) == 0:
        log.warning("the validation split is empty: no model selection, the last epoch is kept")

    rows = []
    best = None  # (f1, loss, epoch, state)
    since_best = 0
    stopped = False
    y_all = torch.from_numpy(train.labels)
    for epoch in range(1, settings.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        order = torch.randperm(len(train), generator=generator).numpy()
        total_loss, correct = 0.0, 0
        for start in range(0, len(order), settings.batch_size):
            idx = order[start : start + settings.batch_size]
            inputs = _to(train.fetch(idx), device)
            if augment is not None:
                inputs = augment(inputs)
            y = y_all[idx].to(device)
            logits = forward(model, inputs)
            loss = criterion(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total_loss += float(loss.detach()) * len(idx)
            correct += int((logits.detach().argmax(dim=1) == y).sum())
        train_loss = total_loss / len(order)
        train_acc = correct / len(order)
        val_loss, val_acc, val_f1 = _evaluate(model, val, forward, device, eval_bs)
        seconds = time.perf_counter() - t0
        rows.append([epoch, train_loss, train_acc, val_loss, val_acc, val_f1, seconds])
        log.info("epoch %3d/%d  train loss %.4f acc %.3f | val loss %.4f acc %.3f macro-F1 %.3f | %.1f s",
                 epoch, settings.epochs, train_loss, train_acc, val_loss, val_acc, val_f1, seconds)

        if len(val) == 0:
            improved = True
        elif best is None:
            improved = True
        elif settings.select == "loss":
            improved = val_loss < best[1] - 1e-12 or (abs(val_loss - best[1]) <= 1e-12 and val_f1 > best[0])
        else:
            improved = val_f1 > best[0] + 1e-12 or (abs(val_f1 - best[0]) <= 1e-12 and val_loss < best[1])
        if improved:
            state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            best = (val_f1, val_loss, epoch, state)
            since_best = 0
        else:
            since_best += 1
            if settings.patience and since_best >= settings.patience:
                log.info("early stop after epoch %d: no validation improvement for %d epochs", epoch,
                         settings.patience)
                stopped = True
                break

    f1, loss, best_epoch, state = best
    model.load_state_dict(state)
    log.info("best epoch %d (val macro-F1 %.3f, val loss %.4f); its weights are restored", best_epoch, f1, loss)
    history = pd.DataFrame(rows, columns=CURVE_COLUMNS)
    history["epoch"] = history["epoch"].astype(int)
    return FitResult(history, best_epoch, float(f1), float(loss), stopped)


# --------------------------------------------------------------------------------------------------
# Outputs
# --------------------------------------------------------------------------------------------------
def write_curve(history: pd.DataFrame, csv_path, png_path, best_epoch: int, title: str = "") -> None:
    """curve.csv (CURVE_COLUMNS) and curve.png (loss and macro F1 against epoch)."""
    write_csv(history[CURVE_COLUMNS], csv_path, float_format="%.6g")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax1.plot(history["epoch"], history["train_loss"], label="train")
    ax1.plot(history["epoch"], history["val_loss"], label="validation")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("cross-entropy loss")
    ax2.plot(history["epoch"], history["val_f1_macro"], label="validation macro F1", color="C2")
    ax2.plot(history["epoch"], history["val_acc"], label="validation accuracy", color="C3", alpha=0.6)
    ax2.plot(history["epoch"], history["train_acc"], label="train accuracy", color="C1", alpha=0.6, ls="--")
    ax2.set_xlabel("epoch")
    ax2.set_ylim(0, 1)
    for ax in (ax1, ax2):
        ax.axvline(best_epoch, color="grey", ls=":", lw=1)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(f"{title} (best epoch {best_epoch})", fontsize=10)
    fig.tight_layout()
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)


def save_state_dict(model: nn.Module, path) -> None:
    """Weights as safetensors (no pickle); written atomically."""
    from safetensors.torch import save_file

    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})


def load_state_dict(path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


@dataclass
class Prepared:
    """A modality's data ready for training.

    ``segments``: every segment (segment_id, split, emotion, label), row i <-> position i of the
    sources; ``usable``: bool per segment (unusable rows are neither trained on nor predicted by the
    model); ``source(positions)`` builds a Source of those segment positions.
    """

    segments: pd.DataFrame
    usable: np.ndarray
    source: Callable[[np.ndarray], Source]


def run_training(modality: str, prepared: Prepared, model: nn.Module, settings: TrainSettings, *,
                 seed: int, generator: torch.Generator, device: torch.device, forward: Forward,
                 outputs: dict, save_checkpoint: Callable[[nn.Module, dict], None], config: dict,
                 preprocessing: dict, augment=None) -> FitResult:
    """Fit, predict validation and test segments, and write every output of rule ``train``.

    ``outputs`` holds the paths model, config, preprocessing, curve, curve_png, predictions.
    ``save_checkpoint(model, config)`` writes the model and config files (modality specific).
    """
    from ..predictions import prediction_table, write_predictions

    seg = prepared.segments
    usable = np.asarray(prepared.usable, dtype=bool)
    split = seg["split"].to_numpy()
    for name in SPLITS:
        n = int((split == name).sum())
        nu = int(((split == name) & usable).sum())
        log.info("%s split: %d segments, %d usable by the %s model", name, n, nu, modality)
    n_skip = int(((split == "train") & ~usable).sum())
    if n_skip:
        log.warning("%d training segment(s) without usable %s features are left out of training", n_skip,
                    modality)
    train_pos = np.flatnonzero((split == "train") & usable)
    val_pos = np.flatnonzero((split == "val") & usable)
    assert_no_test(split[train_pos], "training rows")
    assert_no_test(split[val_pos], "validation rows")
    if len(train_pos) == 0:
        raise DataError(outputs.get("model", modality), f"no usable training segment for the {modality} model")

    t0 = time.perf_counter()
    result = fit(model, prepared.source(train_pos), prepared.source(val_pos), settings, generator=generator,
                 device=device, forward=forward, augment=augment)
    log.info("training took %.1f s", time.perf_counter() - t0)

    # Predictions for every validation and test segment: the model where usable, the prior otherwise.
    eval_pos = np.flatnonzero(np.isin(split, ["val", "test"]))
    probs = np.empty((len(eval_pos), N_CLASSES), dtype=np.float64)
    ok = usable[eval_pos]
    prior = train_prior(seg["label"].to_numpy()[split == "train"])
    probs[~ok] = prior
    if ok.any():
        probs[ok] = predict_proba(model, prepared.source(eval_pos[ok]), forward, device,
                                  max(settings.batch_size, 64))
    if (~ok).any():
        log.warning("%d validation/test segment(s) without usable %s features get the training prior "
                    "(%s)", int((~ok).sum()), modality, ", ".join(f"{p:.3f}" for p in prior))
    table = prediction_table(seed, seg.iloc[eval_pos], probs)
    for name in ("val", "test"):
        part = table[table["split"] == name]
        if len(part):
            acc = float(np.mean(part[PROB_COLUMNS].to_numpy().argmax(1) == part["emotion"].map(LABEL_INDEX)))
            log.info("%s accuracy of the selected model: %.3f (%d segments)", name, acc, len(part))

    config = copy.deepcopy(config)
    config.update({
        "modality": modality,
        "seed": int(seed),
        "device": str(device),
        "torch_version": torch.__version__,
        "best_epoch": result.best_epoch,
        "epochs_run": int(len(result.history)),
        "stopped_early": result.stopped_early,
        "best_val_f1_macro": result.best_val_f1,
        "best_val_loss": result.best_val_loss,
        "training": settings.as_dict(),
        "classes": list(EMOTIONS),
        "n_train": int(len(train_pos)),
        "n_val": int(len(val_pos)),
        "n_train_skipped": n_skip,
        "n_predicted_from_prior": int((~ok).sum()),
        "train_prior": prior.tolist(),
    })
    save_checkpoint(model, config)
    write_json(preprocessing, outputs["preprocessing"])
    write_curve(result.history, outputs["curve"], outputs["curve_png"], result.best_epoch,
                title=f"{modality} model, seed {seed}")
    write_predictions(table, outputs["predictions"])
    return result
