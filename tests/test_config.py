"""Config schema: defaults fill in, typos and bad values stop the run naming the key."""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "workflow" / "schemas" / "config.schema.yaml")


def _default():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_default_config_is_valid_and_complete():
    cfg = _default()
    filled = copy.deepcopy(cfg)
    validate(filled, SCHEMA, set_default=True)
    assert filled == cfg, "config.yaml should spell out every key the schema knows"


def test_defaults_fill_an_empty_config():
    cfg = {}
    validate(cfg, SCHEMA, set_default=True)
    assert cfg["split"]["scheme"] == "session"
    assert cfg["bio"]["eda"]["band"] == [0.05, 5.0]
    assert cfg["text"]["pretrained"] is None


def test_every_schema_property_has_a_default_or_is_in_config():
    schema = yaml.safe_load(Path(SCHEMA).read_text())

    def walk(node, path):
        for key, sub in node.get("properties", {}).items():
            assert "default" in sub, f"schema key {path + key} has no default"
            if sub.get("type") == "object":
                walk(sub, path + key + ".")

    walk(schema, "")


@pytest.mark.parametrize(
    "patch, key",
    [
        ({"split": {"scheme": "bogus"}}, "bogus"),
        ({"bio": {"lr": -1}}, "lr"),
        ({"bio": {"batch_size": "four"}}, "four"),
        ({"text": {"max_lenght": 32}}, "max_lenght"),
        ({"seeds": []}, "seeds"),
        ({"fusion": {"method": "median"}}, "median"),
        ({"fusion": {"calibrate": "yes"}}, "yes"),
        ({"audio": {"select": "acc"}}, "acc"),
        ({"split": {"test_fraction": 1.5}}, "test_fraction"),
    ],
)
def test_bad_values_are_rejected_with_the_key(patch, key):
    cfg = _default()
    for section, value in patch.items():
        if isinstance(value, dict):
            cfg[section].update(value)
        else:
            cfg[section] = value
    with pytest.raises(WorkflowError) as err:
        validate(cfg, SCHEMA, set_default=True)
    assert key in str(err.value)


def _snakemake(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.workflow
def test_cli_rejects_bad_config_value_naming_the_key():
    res = _snakemake("results/segments.parquet", "-n", "--config", "split={'scheme': 'bogus'}")
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "bogus" in out and "scheme" in out


@pytest.mark.workflow
def test_cli_missing_data_dir_is_a_clear_error(tmp_path):
    res = _snakemake("results/segments.parquet", "-n", "--config", f"data_dir={tmp_path / 'nowhere'}")
    assert res.returncode != 0
    assert "does not exist" in res.stdout + res.stderr
    assert "Traceback" not in res.stdout + res.stderr


@pytest.mark.workflow
def test_cli_missing_modality_folder_is_a_clear_error(tmp_path):
    for d in ("annotation", "wav", "ECG", "EDA"):
        (tmp_path / d).mkdir()
    res = _snakemake("results/segments.parquet", "-n", "--config", f"data_dir={tmp_path}", "dataset=kemdy19")
    assert res.returncode != 0
    assert "TEMP" in res.stdout + res.stderr
    # without `dataset`, the layout is detected from the annotation files: none here
    res = _snakemake("results/segments.parquet", "-n", "--config", f"data_dir={tmp_path}")
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "neither known layout" in out and "SessSS_eval.csv" in out
    assert "Traceback" not in out
