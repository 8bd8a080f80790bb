"""The ``synthetic`` config section: defaults, validation and the size preset."""

from __future__ import annotations

from ..constants import SYNTH_SIZES

VERSION = "1.0"

DEFAULTS = {
    "size": "small",
    "seed": 19,
    "n_sessions": None,
    "ecg_fs": 250,
    # read back text > audio > bio at the real-file trial's size, about as on real KEMDy19 (see cues.py);
    # the paper's order (audio > bio > text) is not what the real files show
    "cue_accuracy": {"audio": 0.70, "text": 0.75, "bio": 0.25},
}


# How long before a block's first dialogue each device recording starts (s, uniform). The real files
# start minutes before (Sess01F: the first tag 238 s into the recording); tiny keeps its files short.
RECORDING_LEAD_S = {"tiny": (6.0, 15.0), "small": (20.0, 60.0), "full": (60.0, 240.0)}


def resolve_config(synthetic: dict | None) -> dict:
    """The ``synthetic`` config section with defaults filled in and the size preset attached."""
    cfg = {k: v for k, v in DEFAULTS.items() if k != "cue_accuracy"}
    cfg.update({k: v for k, v in (synthetic or {}).items() if k != "cue_accuracy" and v is not None})
    acc = dict(DEFAULTS["cue_accuracy"])
    acc.update({k: float(v) for k, v in ((synthetic or {}).get("cue_accuracy") or {}).items()})
    cfg["cue_accuracy"] = acc
    if cfg["size"] not in SYNTH_SIZES:
        raise ValueError(f"unknown synthetic size {cfg['size']!r}; choose one of {sorted(SYNTH_SIZES)}")
    preset = SYNTH_SIZES[cfg["size"]]
    cfg["n_sessions"] = int(cfg.get("n_sessions") or preset["n_sessions"])
    cfg["seed"] = int(cfg["seed"])
    cfg["ecg_fs"] = int(cfg["ecg_fs"])
    return cfg


def preset(cfg: dict) -> dict:
    """The size preset (dialogues, utterances per dialogue, durations) of a resolved config."""
    return SYNTH_SIZES[cfg["size"]]
