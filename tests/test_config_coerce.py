"""Nested --config values arrive as strings; they are parsed where the schema wants another type."""

from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from emoflow.config import coerce_cli_strings

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT / "workflow" / "schemas" / "config.schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())


def test_numbers_booleans_null_and_lists_are_parsed():
    cfg = {"text": {"lr": "2e-5", "epochs": "3", "class_weights": "true", "pretrained": "null",
                    "revision": "1.0"},
           "bio": {"eda": {"band": ["0.05", "1.5"]}, "hidden": "[8, 4]"},
           "seeds": ["0", "1"], "data_dir": "123"}
    coerce_cli_strings(cfg, SCHEMA)
    assert cfg["text"]["lr"] == 2e-5 and cfg["text"]["epochs"] == 3
    assert cfg["text"]["class_weights"] is True
    assert cfg["text"]["revision"] == "1.0", "string-typed keys stay strings"
    assert cfg["text"]["pretrained"] == "null", "a string|null key keeps the string"
    assert cfg["bio"]["eda"]["band"] == [0.05, 1.5]
    assert cfg["bio"]["hidden"] == [8, 4]
    assert cfg["seeds"] == [0, 1]
    assert cfg["data_dir"] == "123"


def test_a_real_typo_still_fails_validation():
    cfg = {"bio": {"batch_size": "four"}}
    coerce_cli_strings(cfg, SCHEMA)
    with pytest.raises(WorkflowError, match="four"):
        validate(cfg, str(SCHEMA_PATH), set_default=True)
