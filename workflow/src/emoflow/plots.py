"""Figures for the report: confusion matrices, the per-class F1 chart, learning curves.

Each function returns a matplotlib figure; the scripts write it with ``io.write_figure``.
"""

from __future__ import annotations

import logging
from typing import Mapping, Sequence

import numpy as np

from .constants import EMOTIONS

log = logging.getLogger(__name__)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def row_normalise(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its total (the recall of every true class); all-zero rows stay 0."""
    cm = np.asarray(cm, dtype=float)
    totals = cm.sum(axis=1, keepdims=True)
    out = np.zeros_like(cm)
    np.divide(cm, totals, out=out, where=totals > 0)
    return out


def confusion_figure(cm: np.ndarray, title: str = "", labels: Sequence[str] = EMOTIONS):
    """Row-normalised confusion heatmap; every cell shows its share and its count."""
    plt = _pyplot()
    cm = np.asarray(cm)
    norm = row_normalise(cm)
    k = len(labels)
    fig, ax = plt.subplots(figsize=(7.2, 6.2))
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(k):
        for j in range(k):
            colour = "white" if norm[i, j] > 0.6 else "black"
            ax.text(j, i, f"{norm[i, j]:.2f}\n({int(cm[i, j])})", ha="center", va="center",
                    fontsize=8, color=colour)
    support = cm.sum(axis=1)
    ax.set_xticks(range(k), labels=list(labels), rotation=45, ha="right")
    ax.set_yticks(range(k), labels=[f"{lab} (n={int(n)})" for lab, n in zip(labels, support)])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class (recall)")
    return fig


def per_class_f1_figure(
    f1: Mapping[str, Sequence[float]],
    std: Mapping[str, Sequence[float]] | None = None,
    labels: Sequence[str] = EMOTIONS,
    title: str = "Per-class F1 on the test split",
):
    """Grouped bars: one group per emotion, one bar per setting (optional error bars = std over seeds)."""
    plt = _pyplot()
    settings = list(f1)
    k = len(labels)
    width = 0.8 / max(len(settings), 1)
    x = np.arange(k)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for i, name in enumerate(settings):
        values = np.asarray(f1[name], dtype=float)
        err = np.asarray(std[name], dtype=float) if std and name in std else None
        ax.bar(x - 0.4 + width * (i + 0.5), values, width, yerr=err, capsize=2 if err is not None else 0,
               label=name)
    ax.set_xticks(x, labels=list(labels))
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, ncols=max(len(settings), 1), loc="upper center", bbox_to_anchor=(0.5, -0.08),
              frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return fig


def curve_figure(history, best_epoch: int, title: str = ""):
    """Learning curve: train/validation loss, and validation macro F1 and accuracy, against epoch."""
    plt = _pyplot()
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
    return fig


def dialogue_signals_figure(view):
    """One participant's bio signals over one dialogue (``dataview.DialogueView``), one panel per signal,
    each of the participant's utterances shaded over the samples its features use and labelled with its
    emotion; a segment re-aligned or recovered by time is hatched."""
    plt = _pyplot()
    n = max(len(view.traces), 1)
    fig, axes = plt.subplots(n, 1, figsize=(11, 1.9 * n + 0.6), squeeze=False)
    colours = {e: plt.get_cmap("tab10")(i) for i, e in enumerate(EMOTIONS)}
    for ax, trace in zip(axes[:, 0], view.traces):
        style = dict(lw=0.4) if trace.signal == "ecg" else dict(lw=1.0)
        marker = "." if trace.signal == "ibi" else None
        ax.plot(trace.time_s, trace.value, color="k", marker=marker, ms=2, rasterized=True, **style)
        spans = view.spans[view.spans["signal"] == trace.signal]
        for r in spans.dropna(subset=["t0"]).itertuples():
            hatch = "//" if r.method not in ("tags", "") else None
            ax.axvspan(r.t0, r.t1, color=colours.get(r.emotion, "grey"), alpha=0.25, hatch=hatch, lw=0)
            ax.text((r.t0 + r.t1) / 2, 1.0, r.emotion[:3], transform=ax.get_xaxis_transform(), ha="center",
                    va="bottom", fontsize=6)
        ax.set_ylabel(trace.label or trace.signal.upper(), fontsize=7)
        ax.tick_params(labelsize=7)
        ax.margins(x=0)
    axes[-1, 0].set_xlabel("seconds from the window start (bio clock)")
    if not view.traces:
        axes[0, 0].text(0.5, 0.5, "no signal to draw", ha="center", va="center")
    missing = "; ".join(f"{s}: {why}" for s, why in view.missing.items())
    fig.suptitle(f"{view.participant}, {view.dialogue}: the participant's utterances (shaded: the samples "
                 f"each one's features use; hatched: aligned by time)" + (f"\nnot drawn: {missing}" if missing
                                                                          else ""), fontsize=9)
    fig.tight_layout()
    return fig


def feature_distribution_figure(frame, features, labels: Sequence[str] = EMOTIONS):
    """Box plots of each feature per true class (``frame``: ``emotion`` and the feature columns;
    ``features``: (column, label) pairs); the number of usable segments per class under each box."""
    plt = _pyplot()
    ncols = 3
    nrows = max(1, -(-len(features) // ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(11, 2.6 * nrows), squeeze=False)
    for ax, (col, label) in zip(axes.flat, features):
        groups = [frame.loc[frame["emotion"] == e, col].dropna().to_numpy(float) for e in labels]
        ax.boxplot(groups, showfliers=False, widths=0.6)
        ax.set_xticks(np.arange(1, len(labels) + 1),
                      labels=[f"{e[:3]}\n{len(g)}" for e, g in zip(labels, groups)], fontsize=7)
        ax.set_title(label, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[len(features):]:
        ax.axis("off")
    fig.suptitle("Main features per true class (boxes: quartiles, whiskers: 1.5 IQR; under each class: "
                 "its usable segments)", fontsize=9)
    fig.tight_layout()
    return fig
