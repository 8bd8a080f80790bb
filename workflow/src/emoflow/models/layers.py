"""The head on a pretrained encoder's layers (SUPERB recipe): a softmax-weighted sum of the layers' pooled
hidden states, then a small classifier.

Input: ``[batch, n_layers, dim]``, each layer's hidden states averaged over time (audio frames or
text tokens). Averaging and the weighted sum are both linear, so weighting the pooled layers equals
pooling the weighted frame sequence -- the SUPERB emotion head (weighted layer sum, linear projection,
mean pooling, linear classifier) on pooled vectors instead of frames, which is why embeddings can be
extracted once and cached.

Each layer is first normalised: ``standardize`` (frozen encoder) with a per-layer, per-dimension mean and
scale fitted on the **training rows** (``fit_standardization``; stored as buffers, so they travel in
the checkpoint's safetensors), or ``layer_norm`` (an encoder trained end to end, whose layers keep
changing) with a parameter-free layer normalisation over the feature dimension. The layer weights start
equal (zero logits). The classifier: dropout, ``Linear(dim, hidden)``, ReLU, dropout,
``Linear(hidden, 7)``; ``hidden = 0`` gives a linear classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from ..constants import EMOTIONS

NORMS = ("standardize", "layer_norm")


class LayerHead(nn.Module):
    def __init__(self, n_layers: int, dim: int, hidden: int, dropout: float, norm: str = "standardize",
                 n_classes: int = len(EMOTIONS)):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, not {norm!r}")
        self.norm = norm
        self.layer_logits = nn.Parameter(torch.zeros(n_layers))
        self.register_buffer("mean", torch.zeros(n_layers, dim))
        self.register_buffer("scale", torch.ones(n_layers, dim))
        if hidden > 0:
            layers = [nn.Dropout(dropout), nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                      nn.Linear(hidden, n_classes)]
        else:
            layers = [nn.Dropout(dropout), nn.Linear(dim, n_classes)]
        self.classifier = nn.Sequential(*layers)

    @torch.no_grad()
    def fit_standardization(self, x: torch.Tensor) -> None:
        """Per layer and dimension: mean and standard deviation of the (training) rows ``x`` [n, L, D]."""
        x = x.double()
        self.mean.copy_(x.mean(dim=0).float())
        self.scale.copy_(x.std(dim=0, unbiased=False).clamp_min(1e-5).float())

    def layer_weights(self) -> list[float]:
        return torch.softmax(self.layer_logits.detach().float(), dim=0).cpu().tolist()

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """The weighted layer sum [batch, dim] of normalised layers ``x`` [batch, L, D]."""
        if x.dim() != 3 or x.shape[1:] != self.mean.shape:
            raise ValueError(f"expected [batch, {self.mean.shape[0]}, {self.mean.shape[1]}], got {list(x.shape)}")
        if self.norm == "standardize":
            x = (x - self.mean) / self.scale
        else:
            x = nn.functional.layer_norm(x, (x.shape[-1],))
        w = torch.softmax(self.layer_logits, dim=0)
        return torch.einsum("l,bld->bd", w, x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pooled(x))


def head_spec(section: dict) -> dict:
    """``{"hidden": int, "dropout": float}`` from a config section's ``layer_head`` (checked)."""
    spec = {"hidden": int(section["layer_head"]["hidden"]), "dropout": float(section["layer_head"]["dropout"])}
    if spec["hidden"] < 0 or not 0 <= spec["dropout"] < 1:
        raise ValueError(f"layer_head: hidden >= 0 and dropout in [0, 1) expected, got {spec}")
    return spec


def masked_mean(hidden: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean over time of ``hidden`` [batch, L, T, D] over the first ``lengths`` [batch] steps of each row."""
    steps = torch.arange(hidden.shape[2], device=hidden.device)
    mask = (steps[None, :] < lengths[:, None]).to(hidden.dtype)  # [batch, T]
    total = torch.einsum("bltd,bt->bld", hidden, mask)
    return total / lengths.clamp_min(1).to(hidden.dtype)[:, None, None]
