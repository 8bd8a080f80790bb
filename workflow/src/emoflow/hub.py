"""Pretrained models named in the config (``text.pretrained``, ``audio.pretrained``): hub name or local folder.

A value is a **local folder** when it exists as a folder, is an absolute path, or starts with ``.`` or
``~``; anything else is a Hugging Face **hub name** (``facebook/wav2vec2-base``), optionally pinned by a
``revision`` (a tag, branch or commit). Only the local rules ``fetch_pretrained`` (text) and ``fetch_ssl``
(audio) reach the network: they download a hub name once into ``resources/pretrained/<slug>`` on the
submission host, and every compute job loads that folder with ``local_files_only=True``. Without network
the download fails with one message that says how to fetch the model elsewhere.

Import-light (no torch, no transformers at import time): the Snakefile reads ``is_local`` and ``slug`` at
parse time.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from .errors import DataError

PRETRAINED_DIR = "resources/pretrained"
HUB_PATTERNS = ["*.json", "*.model", "*.txt", "*.safetensors", "pytorch_model.bin"]


def is_local(name: str) -> bool:
    """Is the configured ``pretrained`` value a local folder (rather than a hub name)?"""
    return os.path.isdir(name) or os.path.isabs(name) or name.startswith((".", "~"))


def slug(name: str, revision: str | None = None) -> str:
    """A file name for a model: ``facebook/wav2vec2-base`` -> ``facebook__wav2vec2-base``, with
    ``--<revision>`` appended when one is pinned (a local folder: its path, the same way)."""
    clean = lambda s: re.sub(r"[^A-Za-z0-9_.-]+", "__", str(s)).strip("._")  # noqa: E731
    text = clean(os.path.expanduser(name)) or "model"
    return f"{text}--{clean(revision)}" if revision else text


def folder(name: str, revision: str | None = None) -> str:
    """The folder a compute job loads: the local folder itself, or where the fetch rule saves a hub name."""
    if is_local(name):
        return os.path.expanduser(name)
    return os.path.join(PRETRAINED_DIR, slug(name, revision))


def download(name: str, revision: str | None, into, key: str) -> Path:
    """``snapshot_download`` of a hub model into the folder ``into``; a DataError that says how to fetch it
    on a machine with network (``key``: the config key that names the model) when that fails."""
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(repo_id=name, revision=revision, local_dir=str(into), allow_patterns=HUB_PATTERNS)
    except Exception as exc:  # network, offline mode, unknown repo: all end here
        where = f"{name}@{revision}" if revision else name
        rev = f" --revision {revision}" if revision else ""
        first_line = (str(exc).splitlines() or [""])[0]
        raise DataError(
            where,
            f"cannot download from the Hugging Face hub ({type(exc).__name__}: {first_line}). "
            f"Pre-fetch it on a machine with network: `hf download {name}{rev} --local-dir "
            f"/path/to/model` (older clients: `huggingface-cli download ...`), then set "
            f"`{key}: /path/to/model` (a local folder) in the config.",
        ) from exc
    return Path(path)


def require_folder(path, key: str) -> Path:
    """``path`` as a Path when it is an existing folder; otherwise a DataError naming ``key``."""
    path = Path(path)
    if not path.is_dir():
        hint = ("a hub name is fetched by the workflow's local fetch rule; a local folder must exist"
                if not is_local(str(path)) else "set it to an existing folder or to a hub name")
        raise DataError(path, f"{key}: the model folder does not exist ({hint})")
    return path


def drop_local_paths(folder_path) -> None:
    """Remove ``name_or_path`` entries (temporary download paths) from the saved config files."""
    import json

    for name in ("config.json", "tokenizer_config.json", "preprocessor_config.json"):
        path = Path(folder_path) / name
        if not path.exists():
            continue
        obj = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(obj, dict) and {"name_or_path", "_name_or_path"} & obj.keys():
            obj.pop("name_or_path", None)
            obj.pop("_name_or_path", None)
            path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def publish(write: Callable[[Path], None], out_dir) -> None:
    """Call ``write(tmp)`` on a temporary folder beside ``out_dir``, then replace ``out_dir`` by its files,
    each moved in through ``io.atomic_path`` (no file there is ever half-written)."""
    from .io import atomic_path

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.", dir=out_dir.parent) as tmp:
        write(Path(tmp))
        drop_local_paths(tmp)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        for src in sorted(p for p in Path(tmp).rglob("*") if p.is_file()):
            with atomic_path(out_dir / src.relative_to(tmp)) as dest:
                os.replace(src, dest)
