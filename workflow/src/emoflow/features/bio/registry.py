"""The bio signals: name -> dataset folder and implementing module (import-light).

Signals: ``ecg``, ``eda``, ``temp`` (KEMDy19) and ``eda``, ``temp``, ``ibi`` (KEMDy20); which ones a
dataset has is ``emoflow.datasets.SIGNALS``.

The Snakefile imports this module at parse time, so it imports no numpy/pandas at module level. The
names and folders are ``constants.BIO_SIGNALS``; each signal is implemented by the module
``emoflow.features.bio.<name>`` (a ``base.BioSignal``). Code that works for every signal imports no
signal module itself: it names the signal and calls ``load``, so a signal's module is only ever
imported through its name here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ...constants import BIO_SIGNALS, participant_session

if TYPE_CHECKING:
    from .base import BioSignal

#: Signal names, in output column order.
SIGNALS: tuple[str, ...] = tuple(BIO_SIGNALS)

#: Signal name -> the module that implements it.
MODULES: dict[str, str] = {name: f"{__package__}.{name}" for name in SIGNALS}


def check(signal: str) -> None:
    if signal not in BIO_SIGNALS:
        raise ValueError(f"unknown bio signal {signal!r}; expected one of {sorted(BIO_SIGNALS)}")


def folder(signal: str) -> str:
    """The dataset folder of a signal (``ecg`` -> ``ECG``)."""
    check(signal)
    return BIO_SIGNALS[signal]


def raw_relpath(signal: str, participant: str) -> str:
    """Raw file of one participant relative to the dataset root: a KEMDy19 participant (``Sess01F`` ->
    ``ECG/Session01/Original/Sess01F.csv``) or a KEMDy20 user and script (``Sess01_script01_User002M`` ->
    ``EDA/Session01/Sess01_script01_User002M.csv``)."""
    sub = "" if "_" in participant else "Original/"
    return f"{folder(signal)}/{participant_session(participant)}/{sub}{participant}.csv"


def load(signal: str) -> BioSignal:
    """Import the module that implements ``signal``."""
    check(signal)
    return importlib.import_module(MODULES[signal])
