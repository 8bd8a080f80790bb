"""Checkpoint files of the models built here (bio MLP, audio CNN): safetensors weights + JSON config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..io import atomic_path, write_json


def save_state_dict(model: nn.Module, path) -> None:
    """Weights as safetensors (no pickle); written atomically."""
    from safetensors.torch import save_file

    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})


def load_state_dict(path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def save(model: nn.Module, config: dict, model_path, config_path) -> None:
    """``model.safetensors`` + ``config.json`` (the architecture and training record)."""
    save_state_dict(model, model_path)
    write_json(config, config_path)


def read_config(folder) -> dict:
    return json.loads((Path(folder) / "config.json").read_text())


def load(folder, build: Callable[[dict], nn.Module]) -> tuple[nn.Module, dict]:
    """The model ``build(config)`` makes from ``config.json``, with the weights of ``model.safetensors``, in
    eval mode; returns (model, config)."""
    config = read_config(folder)
    model = build(config)
    model.load_state_dict(load_state_dict(f"{folder}/model.safetensors"))
    model.eval()
    return model, config
