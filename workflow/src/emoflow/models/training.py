"""The one training loop, shared by every modality adapter (``emoflow.models.registry``).

One run = one modality and one seed (``train``):

1. ``seed_everything`` seeds Python, NumPy and torch and returns the ``torch.Generator`` that orders the
   training batches; ``configure_device`` picks CPU or CUDA (config ``device``) and turns on
   deterministic algorithms, so the same seed on the same machine gives byte-identical checkpoints.
2. The adapter's ``setup`` turns the segments and its feature inputs into a model, a ``Source`` builder
   and the usable-segment mask (``adapter.Setup``).
3. ``fit`` trains with AdamW (one learning rate, or the groups of the model's ``param_groups(lr)``) and
   cross-entropy on logits (optionally weighted by inverse training-class
   frequency, optionally label-smoothed), with a per-batch learning-rate schedule (``schedule``:
   constant, cosine or linear decay to 0 at the last planned step, after a linear warm-up over the
   ``warmup`` fraction of the steps), evaluates the VALIDATION split after every epoch, keeps the best
   epoch (``select``: ``f1`` = macro F1 over the seven classes, as in Table 1 (``metrics.f1_macro``),
   ties broken by the lower validation loss; ``loss`` = validation cross-entropy, ties broken by the
   higher macro F1 -- the epoch with the best-calibrated probabilities, which late fusion multiplies),
   stops early after ``patience`` epochs without improvement (0 = never) and restores the best weights.
   The test split is never seen here: ``fit`` and ``train`` assert it. A head without epochs (a linear
   model on fixed features, ``models.linear``) brings its own ``Setup.solve`` instead: it is fitted on
   the same training rows and selected on the same validation rows, and its curve is one row.
4. ``train`` predicts every validation and test segment and returns a ``TrainResult`` (model, checkpoint
   config, preprocessing record, learning curve, prediction table); the ``train`` script writes them.

Segments a modality cannot use (audio that failed to load) are left out of training and selection and
get the *training prior* as their prediction: the class frequencies of the training split with add-one
smoothing (``metrics.class_prior``). Every validation and test segment therefore has probabilities and
every Table 1 setting is scored on the same test set.
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..constants import CLASS_INDEX, EMOTIONS, PROB_COLUMNS, SPLITS
from ..errors import DataError
from ..metrics import class_prior, f1_macro
from ..predictions import prediction_table

if TYPE_CHECKING:  # pragma: no cover
    from .adapter import Adapter

log = logging.getLogger(__name__)

N_CLASSES = len(EMOTIONS)
CLASS_CODES = list(range(N_CLASSES))
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
    """The hyperparameters every modality shares (rule param ``train``); extras stay in ``extra``.

    No defaults here: they live in the config schema, which fills every key before a rule runs.
    """

    batch_size: int
    lr: float
    epochs: int
    weight_decay: float
    patience: int
    class_weights: bool
    device: str
    schedule: str
    warmup: float
    label_smoothing: float
    select: str
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_params(cls, params: dict) -> "TrainSettings":
        params = dict(params)
        names = [k for k in cls.__dataclass_fields__ if k != "extra"]
        missing = [k for k in names if k not in params]
        if missing:
            raise ValueError(f"training settings lack {', '.join(missing)}")
        s = cls(**{k: params.pop(k) for k in names}, extra=params)
        if s.batch_size < 1 or s.epochs < 1 or s.patience < 0 or s.lr <= 0:
            raise ValueError(f"invalid training settings: {s}")
        if s.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, not {s.schedule!r}")
        if s.select not in SELECT:
            raise ValueError(f"select must be one of {SELECT}, not {s.select!r}")
        if not 0 <= s.warmup < 1 or not 0 <= s.label_smoothing < 1:
            raise ValueError(f"warmup and label_smoothing must lie in [0, 1): {s}")
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
    if name not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {name!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config device is 'cuda' but torch finds no CUDA GPU (use device: auto or cpu)")
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
# Segments, labels, guards
# --------------------------------------------------------------------------------------------------
def check_segments(df: pd.DataFrame, source) -> pd.DataFrame:
    """The segments table with the columns training needs, checked; adds ``label`` (class index).

    ``source`` names the table in error messages.
    """
    missing = [c for c in ("segment_id", "emotion", "split") if c not in df.columns]
    if missing:
        raise DataError(source, f"missing column(s) {', '.join(missing)}")
    df = df.copy()
    df["segment_id"] = df["segment_id"].astype(str)
    if df["segment_id"].duplicated().any():
        dup = df.loc[df["segment_id"].duplicated(), "segment_id"].iloc[0]
        raise DataError(source, f"duplicate segment_id {dup!r}")
    for col, allowed in (("emotion", EMOTIONS), ("split", SPLITS)):
        bad = ~df[col].isin(allowed)
        if bad.any():
            raise DataError(source, f"{int(bad.sum())} row(s) with an unknown {col}, e.g. "
                                    f"{df.loc[bad, col].iloc[0]!r}")
    if not (df["split"] == "train").any():
        raise DataError(source, "no segment in the train split")
    df["label"] = df["emotion"].map(CLASS_INDEX).astype(np.int64)
    return df.reset_index(drop=True)


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


def assert_no_test(splits: pd.Series | np.ndarray, what: str) -> None:
    """Guard: rows that reach training or model selection must never be test rows."""
    splits = np.asarray(splits)
    n_test = int(np.sum(splits == "test"))
    if n_test:  # an explicit raise, so that the guard also holds under ``python -O``
        raise AssertionError(f"{what}: {n_test} test-split row(s) would reach training or model selection")


# --------------------------------------------------------------------------------------------------
# Data sources, prediction
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


def tensor_sources(tensors: Sequence[torch.Tensor], labels: np.ndarray,
                   splits: np.ndarray) -> Callable[[np.ndarray], Source]:
    """Source builder over in-memory tensors whose row i is segment position i."""
    def build(pos: np.ndarray) -> Source:
        index = torch.as_tensor(pos, dtype=torch.long)
        return Source.from_tensors([t[index] for t in tensors], labels[pos], splits[pos])

    return build


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
    """Validation loss, accuracy and macro F1 (Table 1's definition: all seven classes)."""
    logits = predict_logits(model, source, forward, device, batch_size)
    if len(source) == 0:
        return float("nan"), float("nan"), float("nan")
    y = source.labels
    loss = float(nn.functional.cross_entropy(torch.from_numpy(logits).double(), torch.from_numpy(y)))
    pred = logits.argmax(axis=1)
    return loss, float(np.mean(pred == y)), f1_macro(y, pred, labels=CLASS_CODES)


# --------------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------------
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


@dataclass
class FitResult:
    history: pd.DataFrame
    best_epoch: int  # 1-based; the model holds these weights
    best_val_f1: float
    best_val_loss: float
    stopped_early: bool
    record: dict = field(default_factory=dict)  # what a head without epochs adds to the checkpoint config


@dataclass
class _Step:
    """What one optimisation step needs: loss, optimiser, schedule, batch order, augmentation."""

    forward: Forward
    criterion: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    generator: torch.Generator
    augment: Callable[[list[torch.Tensor]], list[torch.Tensor]] | None


def _make_step(model, train: Source, settings: TrainSettings, device, generator, forward, augment) -> _Step:
    weights = class_weight_vector(train.labels).to(device) if settings.class_weights else None
    if weights is not None:
        log.info("class weights (inverse training frequency): %s",
                 ", ".join(f"{e}={w:.3f}" for e, w in zip(EMOTIONS, weights.tolist())))
    criterion = nn.CrossEntropyLoss(weight=weights, label_smoothing=settings.label_smoothing)
    # a model with parts at their own learning rates (a pretrained encoder below its head) names its groups
    groups = model.param_groups(settings.lr) if hasattr(model, "param_groups") else model.parameters()
    optimizer = torch.optim.AdamW(groups, lr=settings.lr, weight_decay=settings.weight_decay)
    steps_per_epoch = -(-len(train) // settings.batch_size)
    scheduler = lr_scheduler(optimizer, settings.schedule, settings.epochs * steps_per_epoch, settings.warmup)
    return _Step(forward, criterion, optimizer, scheduler, generator, augment)


def _train_epoch(model, train: Source, step: _Step, batch_size: int, device) -> tuple[float, float]:
    """One pass over the training rows in a seeded order; returns (mean loss, accuracy)."""
    model.train()
    order = torch.randperm(len(train), generator=step.generator).numpy()
    y_all = torch.from_numpy(train.labels)
    total_loss, correct = 0.0, 0
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        inputs = _to(train.fetch(idx), device)
        if step.augment is not None:
            inputs = step.augment(inputs)
        y = y_all[idx].to(device)
        logits = step.forward(model, inputs)
        loss = step.criterion(logits, y)
        step.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        step.optimizer.step()
        step.scheduler.step()
        total_loss += float(loss.detach()) * len(idx)
        correct += int((logits.detach().argmax(dim=1) == y).sum())
    return total_loss / len(order), correct / len(order)


def _improved(best, val_loss: float, val_f1: float, select: str, empty_val: bool) -> bool:
    """Is this epoch better than ``best`` = (f1, loss, ...) under the selection rule?"""
    if empty_val or best is None:
        return True
    if select == "loss":
        return val_loss < best[1] - 1e-12 or (abs(val_loss - best[1]) <= 1e-12 and val_f1 > best[0])
    return val_f1 > best[0] + 1e-12 or (abs(val_f1 - best[0]) <= 1e-12 and val_loss < best[1])


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
    step = _make_step(model, train, settings, device, generator, forward, augment)
    eval_bs = eval_batch_size or max(settings.batch_size, 64)
    if len(val) == 0:
        log.warning("the validation split is empty: no model selection, the last epoch is kept")
    rows, best, since_best, stopped = [], None, 0, False  # best = (f1, loss, epoch, state)
    for epoch in range(1, settings.epochs + 1):
        t0 = time.perf_counter()
        train_loss, train_acc = _train_epoch(model, train, step, settings.batch_size, device)
        val_loss, val_acc, val_f1 = _evaluate(model, val, forward, device, eval_bs)
        seconds = time.perf_counter() - t0
        rows.append([epoch, train_loss, train_acc, val_loss, val_acc, val_f1, seconds])
        log.info("epoch %3d/%d  train loss %.4f acc %.3f | val loss %.4f acc %.3f macro-F1 %.3f | %.1f s",
                 epoch, settings.epochs, train_loss, train_acc, val_loss, val_acc, val_f1, seconds)
        if _improved(best, val_loss, val_f1, settings.select, len(val) == 0):
            state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
            best, since_best = (val_f1, val_loss, epoch, state), 0
            continue
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
# One modality, one seed: the adapter's setup, the loop, the predictions
# --------------------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    """Everything one training run produces; the ``train`` script writes it."""

    model: nn.Module
    config: dict  # the adapter's architecture record + the training record (stored with the checkpoint)
    preprocessing: dict
    history: pd.DataFrame  # CURVE_COLUMNS, one row per epoch run
    best_epoch: int
    predictions: pd.DataFrame  # predictions.PREDICTION_COLUMNS, every validation and test segment
    fit: FitResult


def _positions(split: np.ndarray, usable: np.ndarray, modality: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Training and validation rows the model may use; logs the counts per split."""
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
    return train_pos, val_pos, n_skip


def _predict_eval(seg: pd.DataFrame, setup, device, batch_size: int,
                  modality: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities of every validation and test segment: the model where usable, the prior otherwise.

    Returns (positions, probabilities, prior)."""
    split = seg["split"].to_numpy()
    usable = np.asarray(setup.usable, dtype=bool)
    eval_pos = np.flatnonzero(np.isin(split, ["val", "test"]))
    probs = np.empty((len(eval_pos), N_CLASSES), dtype=np.float64)
    ok = usable[eval_pos]
    prior = class_prior(seg["label"].to_numpy()[split == "train"])
    probs[~ok] = prior
    if ok.any():
        probs[ok] = predict_proba(setup.model, setup.source(eval_pos[ok]), setup.forward, device, batch_size)
    if (~ok).any():
        log.warning("%d validation/test segment(s) without usable %s features get the training prior "
                    "(%s)", int((~ok).sum()), modality, ", ".join(f"{p:.3f}" for p in prior))
    return eval_pos, probs, prior


def _log_accuracy(table: pd.DataFrame) -> None:
    for name in ("val", "test"):
        part = table[table["split"] == name]
        if len(part):
            acc = float(np.mean(part[PROB_COLUMNS].to_numpy().argmax(1) == part["emotion"].map(CLASS_INDEX)))
            log.info("%s accuracy of the selected model: %.3f (%d segments)", name, acc, len(part))


def train(adapter: "Adapter", segments: pd.DataFrame, inputs: dict, settings: TrainSettings,
          seed: int, fold: int) -> TrainResult:
    """Train ``adapter``'s model on ``segments`` (one fold's view, checked by ``check_segments``) and
    predict its validation and test rows.

    ``inputs`` is what the adapter's ``read_inputs`` returned.
    """
    modality = adapter.NAME
    generator = seed_everything(seed)  # before setup: model weights are initialised there
    device = configure_device(settings.device)
    setup = adapter.setup(segments, inputs, settings, seed)
    split = segments["split"].to_numpy()
    usable = np.asarray(setup.usable, dtype=bool)
    train_pos, val_pos, n_skip = _positions(split, usable, modality)
    if len(train_pos) == 0:
        raise DataError(f"{modality} features", f"no usable training segment for the {modality} model")

    t0 = time.perf_counter()
    if setup.solve is None:
        result = fit(setup.model, setup.source(train_pos), setup.source(val_pos), settings, generator=generator,
                     device=device, forward=setup.forward, augment=setup.augment)
    else:  # a head without epochs (adapter.Setup.solve): fitted and selected in one go, one curve row
        setup.model.to(device)
        result = setup.solve(train_pos, val_pos, device)
    log.info("training took %.1f s", time.perf_counter() - t0)

    eval_pos, probs, prior = _predict_eval(segments, setup, device, max(settings.batch_size, 64), modality)
    table = prediction_table(seed, segments.iloc[eval_pos], probs, fold=fold)
    _log_accuracy(table)
    config = {
        **setup.config,
        **result.record,
        "modality": modality,
        "seed": int(seed),
        "fold": int(fold),
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
        "n_predicted_from_prior": int((~usable[eval_pos]).sum()),
        "train_prior": prior.tolist(),
    }
    return TrainResult(setup.model, config, setup.preprocessing, result.history, result.best_epoch, table,
                       result)
