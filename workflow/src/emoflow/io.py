"""Small I/O helpers: atomic writes and tolerant text decoding."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import pandas as pd

from .errors import DataError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` only on success.

    A killed job therefore never leaves a half-written output under the final name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.chmod(0o666 & ~_UMASK)  # mkstemp creates 0600; give outputs the usual permissions
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_parquet(df: pd.DataFrame, path) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, engine="pyarrow", index=False)


def write_json(obj, path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_tsv(df: pd.DataFrame, path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False, lineterminator="\n")


def write_csv(df: pd.DataFrame, path, float_format: str | None = "%.4f") -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format=float_format, lineterminator="\n")


def write_figure(fig, path, dpi: int = 120, tight: bool = True) -> None:
    """A matplotlib figure as PNG, without timestamps or version strings (reruns give identical files);
    the figure is closed."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight" if tight else None,
                    metadata={"Software": None})
    plt.close(fig)


def _json_default(o):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def read_json(path) -> dict:
    """A JSON document; a missing file or invalid JSON is a DataError naming the file."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DataError(path, "file not found") from None
    except json.JSONDecodeError as exc:
        raise DataError(path, f"not valid JSON ({exc.msg} at line {exc.lineno})") from None


def read_transcript(path) -> tuple[str, str]:
    """Read a one-line transcript; UTF-8 first, then CP949 (KEMDy20 and some copies).

    Returns ``(text, encoding)``. Raises DataError when neither decoding works.
    """
    text, enc = decode_text(Path(path).read_bytes(), path, what="transcript")
    return " ".join(text.split()), enc


def decode_text(raw: bytes, path, what: str = "file") -> tuple[str, str]:
    """Decode a KEMDy19 text file's bytes: UTF-8 first (a BOM is dropped), then CP949.

    Returns ``(text, encoding)``. Raises DataError naming ``path`` when neither decoding works.
    """
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    for enc in ("utf-8", "cp949"):
        try:
            return raw.decode(enc), enc
        except UnicodeDecodeError:
            continue
    raise DataError(path, f"{what} is neither UTF-8 nor CP949 text")


def write_npy(array, path) -> None:
    """``np.save`` the array to ``path`` (atomic; the name is kept as given)."""
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object: np.save would append .npy to a path
            np.save(f, array)
