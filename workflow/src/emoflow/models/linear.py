"""Linear heads without epochs: multinomial logistic regression on fixed features (``models.egemaps``,
``models.tfidf``), inside the modality adapter contract (``adapter.Setup.solve``).

The head is a small torch module in float64 (``StandardisedLinear``: standardised features;
``TfidfLinear``: term counts -> TF-IDF), so that predictions, checkpoints (``model.safetensors`` holds
the weights and the fitted transform: mean and scale, or idf) and the prediction tables are those of
every other model. The fit is scikit-learn's ``LogisticRegression`` (lbfgs, multinomial, L2 penalty
1/C, at most ``MAX_ITER`` iterations; ``class_weights`` -> ``class_weight="balanced"``) on the fold's
training rows, once per C of the configured grid; the fitted coefficients are copied into the module,
whose predictions are scored and written (nothing of scikit-learn is stored).

Selection (``SELECTED_BY``): the C with the highest macro F1 over the seven classes on the fold's
validation rows (Table 1's definition, ``metrics.f1_macro``); ties go to the lower validation
cross-entropy, then to the smaller C (the stronger penalty). Test rows never reach the fit or the
selection (asserted). Without validation rows the grid's middle C is kept (a warning). The checkpoint
config records every candidate (``selection``: C, training and validation loss, accuracy, macro F1,
iterations, convergence) and the chosen ``C``; the curve is one row, the chosen fit.

Classes: a class absent from the training rows gets zero weights and a bias ``ABSENT_MARGIN`` below the
lowest fitted bias (a probability of about e^-20 relative to the others for typical inputs); with two
classes present scikit-learn's binary form ``w.x + b`` becomes the softmax form ``+-(w.x + b) / 2``.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..constants import EMOTIONS
from ..metrics import f1_macro
from . import training as T

log = logging.getLogger(__name__)

N_CLASSES = len(EMOTIONS)
MAX_ITER = 2000
ABSENT_MARGIN = 20.0
EVAL_BATCH = 256
SELECTED_BY = ("validation macro F1 over the seven classes; ties: lower validation cross-entropy, then the "
               "smaller C")


class StandardisedLinear(nn.Module):
    """logits = ((x - mean) / scale) W^T + b in float64; ``mean`` and ``scale`` are saved buffers."""

    def __init__(self, n_in: int, n_classes: int = N_CLASSES):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_in, dtype=torch.float64))
        self.register_buffer("scale", torch.ones(n_in, dtype=torch.float64))
        self.linear = nn.Linear(n_in, n_classes, dtype=torch.float64)

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return (x.double() - self.mean) / self.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.transform(x))


class TfidfLinear(nn.Module):
    """logits = l2-normalised(tf(counts) * idf) W^T + b in float64; tf is the count, or 1 + log(count)
    when ``sublinear`` (zero counts stay 0); ``idf`` is a saved buffer. Rows without a known term are 0."""

    def __init__(self, n_terms: int, sublinear: bool, n_classes: int = N_CLASSES):
        super().__init__()
        self.sublinear = bool(sublinear)
        self.register_buffer("idf", torch.ones(n_terms, dtype=torch.float64))
        self.linear = nn.Linear(n_terms, n_classes, dtype=torch.float64)

    def transform(self, counts: torch.Tensor) -> torch.Tensor:
        c = counts.double()
        tf = torch.where(c > 0, 1.0 + torch.log(c.clamp(min=1.0)), torch.zeros_like(c)) if self.sublinear else c
        x = tf * self.idf
        norm = torch.linalg.vector_norm(x, dim=1, keepdim=True)
        return x / torch.where(norm > 0, norm, torch.ones_like(norm))

    def forward(self, counts: torch.Tensor) -> torch.Tensor:
        return self.linear(self.transform(counts))


@torch.no_grad()
def set_buffer(model: nn.Module, name: str, values: np.ndarray) -> None:
    getattr(model, name).copy_(torch.as_tensor(np.asarray(values, dtype=np.float64)))


@torch.no_grad()
def set_weights(model: nn.Module, weight: np.ndarray, bias: np.ndarray) -> None:
    """Copy fitted coefficients [n_classes, n_in] and biases [n_classes] into ``model.linear``."""
    model.linear.weight.copy_(torch.as_tensor(np.asarray(weight, dtype=np.float64)))
    model.linear.bias.copy_(torch.as_tensor(np.asarray(bias, dtype=np.float64)))


def _softmax_form(clf) -> tuple[np.ndarray, np.ndarray]:
    coef, intercept = np.asarray(clf.coef_, dtype=np.float64), np.asarray(clf.intercept_, dtype=np.float64)
    if len(clf.classes_) == 2:  # binary form: logit(class 1) - logit(class 0) = w.x + b
        coef = np.vstack([-coef[0], coef[0]]) / 2.0
        intercept = np.array([-intercept[0], intercept[0]]) / 2.0
    return coef, intercept


def fit_logistic(x, y: np.ndarray, C: float, class_weights: bool,
                 n_classes: int = N_CLASSES) -> tuple[np.ndarray, np.ndarray, dict]:
    """Multinomial logistic regression of class indices ``y`` on ``x`` (dense or sparse rows) ->
    (weights [n_classes, n_in], biases [n_classes], {n_iter, converged}) in the module docstring's form."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(y, dtype=np.int64)
    present = np.unique(y)
    if len(present) < 2:
        raise ValueError(f"the training rows hold one class only ({EMOTIONS[present[0]] if len(present) else 'none'})"
                         "; a classifier needs at least two")
    clf = LogisticRegression(C=float(C), max_iter=MAX_ITER, class_weight="balanced" if class_weights else None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(x, y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    for w in caught:
        if not issubclass(w.category, ConvergenceWarning):
            log.warning("scikit-learn: %s", w.message)
    coef, intercept = _softmax_form(clf)
    weight = np.zeros((n_classes, coef.shape[1]), dtype=np.float64)
    bias = np.full(n_classes, intercept.min() - ABSENT_MARGIN, dtype=np.float64)
    weight[clf.classes_] = coef
    bias[clf.classes_] = intercept
    return weight, bias, {"n_iter": int(np.max(clf.n_iter_)), "converged": converged}


@dataclass
class Candidate:
    """One C of the grid: its fit's scores on the training and validation rows."""

    C: float
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    val_f1_macro: float
    n_iter: int
    converged: bool


def scores(model: nn.Module, source: T.Source, forward: T.Forward, device) -> tuple[float, float, float]:
    """Cross-entropy, accuracy and macro F1 (seven classes) of the model on ``source`` (NaN when empty)."""
    if len(source) == 0:
        return float("nan"), float("nan"), float("nan")
    prob = T.softmax(T.predict_logits(model, source, forward, device, EVAL_BATCH))
    y = source.labels
    loss = float(-np.mean(np.log(np.clip(prob[np.arange(len(y)), y], 1e-300, None))))
    pred = prob.argmax(axis=1)
    return loss, float(np.mean(pred == y)), f1_macro(y, pred, labels=T.CLASS_CODES)


def _better(cand: Candidate, best: Candidate | None) -> bool:
    if best is None:
        return True
    if cand.val_f1_macro > best.val_f1_macro + 1e-12:
        return True
    return abs(cand.val_f1_macro - best.val_f1_macro) <= 1e-12 and cand.val_loss < best.val_loss - 1e-12


def _fit_candidate(model, design_x, train: T.Source, val: T.Source, forward, device, C: float,
                   class_weights: bool) -> tuple[Candidate, tuple[np.ndarray, np.ndarray]]:
    t0 = time.perf_counter()
    weight, bias, info = fit_logistic(design_x, train.labels, C, class_weights)
    set_weights(model, weight, bias)
    train_loss, train_acc, _ = scores(model, train, forward, device)
    val_loss, val_acc, val_f1 = scores(model, val, forward, device)
    cand = Candidate(float(C), train_loss, train_acc, val_loss, val_acc, val_f1, info["n_iter"], info["converged"])
    log.info("C=%-8g train loss %.4f acc %.3f | val loss %.4f acc %.3f macro-F1 %.3f | %d iterations%s | %.1f s",
             cand.C, train_loss, train_acc, val_loss, val_acc, val_f1, cand.n_iter,
             "" if cand.converged else " (NOT converged)", time.perf_counter() - t0)
    return cand, (weight, bias)


def grid_solver(model: nn.Module, design: Callable[[np.ndarray], object], source: Callable[[np.ndarray], T.Source],
                forward: T.Forward, grid, class_weights: bool):
    """The ``Setup.solve`` of a linear head. ``design(positions)``: the rows the fit sees, i.e. the model's
    own ``transform`` of those segments as a NumPy or SciPy sparse matrix; ``source``: the Setup's."""
    grid = sorted({float(c) for c in grid})
    if not grid or min(grid) <= 0:
        raise ValueError(f"the C grid must hold positive numbers, got {grid}")

    def solve(train_pos: np.ndarray, val_pos: np.ndarray, device) -> T.FitResult:
        train, val = source(train_pos), source(val_pos)
        T.assert_no_test(train.splits, "training data")
        T.assert_no_test(val.splits, "validation data")
        t0 = time.perf_counter()
        x = design(train_pos)
        fits = [_fit_candidate(model, x, train, val, forward, device, C, class_weights) for C in grid]
        best = None
        for cand, _ in fits:
            best = cand if len(val) and _better(cand, best) else best
        if best is None:
            best = fits[len(fits) // 2][0]
            log.warning("the validation split is empty: no selection, the grid's middle C=%g is kept", best.C)
        set_weights(model, *fits[[c.C for c, _ in fits].index(best.C)][1])
        log.info("selected C=%g (val macro-F1 %.3f, val loss %.4f)", best.C, best.val_f1_macro, best.val_loss)
        history = pd.DataFrame([[1, best.train_loss, best.train_acc, best.val_loss, best.val_acc, best.val_f1_macro,
                                 time.perf_counter() - t0]], columns=T.CURVE_COLUMNS)
        record = {"head": "multinomial logistic regression (scikit-learn lbfgs, L2)", "C": best.C, "C_grid": grid,
                  "selected_by": SELECTED_BY, "selection": [asdict(c) for c, _ in fits]}
        return T.FitResult(history, 1, float(best.val_f1_macro), float(best.val_loss), False, record=record)

    return solve
