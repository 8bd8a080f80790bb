"""Table 1: row order, labels, columns, oracle columns, byte-identical CSVs; report captions render."""

import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from _model_data import run_script
from emoflow.constants import EMOTIONS, PAPER_RESULTS, PROB_COLUMNS, SETTINGS
from emoflow.errors import DataError
from emoflow.fusion import fuse_details, setting_metrics
from emoflow.table import build_table, per_class_f1, table_columns

ROOT = Path(__file__).resolve().parents[1]
LABELS = ["Audio", "Text", "Bio Signals", "Audio+Text", "Audio+Text+Bio Signals"]
BASE_COLUMNS = ["setting", "accuracy", "f1_macro", "f1_weighted", "uar", "n_test",
                "paper_accuracy", "paper_f1", "reference_accuracy", "reference_f1_macro"]
TAIL_COLUMNS = ["accuracy_std", "f1_macro_std", "f1_weighted_std", "uar_std", "n_seeds", "majority_accuracy",
                "accuracy_fold_std", "f1_macro_fold_std", "f1_weighted_fold_std", "uar_fold_std", "n_folds"]
CI_COLUMNS = [f"{m}_ci_{end}" for m in ("accuracy", "f1_macro", "f1_weighted", "uar") for end in ("low", "high")]


def predictions(rng, seeds=(0, 1), n_val=30, n_test=40):
    """One random prediction table per modality over the same segments."""
    n = n_val + n_test
    y = rng.choice(len(EMOTIONS), size=n, p=[0.5, 0.2, 0.05, 0.1, 0.1, 0.05, 0.0])
    tables = {}
    for m in ("audio", "text", "bio"):
        parts = []
        for s in seeds:
            df = pd.DataFrame({
                "seed": np.full(n, s, dtype=np.int64),
                "fold": np.zeros(n, dtype=np.int64),
                "segment_id": [f"Sess01_script01_M{i:03d}" for i in range(n)],
                "split": ["val"] * n_val + ["test"] * n_test,
                "emotion": [EMOTIONS[i] for i in y],
            })
            p = rng.dirichlet(np.ones(len(EMOTIONS)), size=n)
            p[np.arange(n), y] += 0.15
            df[PROB_COLUMNS] = p / p.sum(axis=1, keepdims=True)
            parts.append(df)
        tables[m] = pd.concat(parts, ignore_index=True)
    return tables


FUSED = {}  # setting id -> fused test rows, filled by the metrics fixture


@pytest.fixture(scope="module")
def metrics():
    rng = np.random.default_rng(0)
    tables = predictions(rng)
    out = {}
    for sid, (_label, mods) in SETTINGS.items():
        fused, fits = fuse_details({m: tables[m] for m in mods}, "mean", keep_val=True)
        out[sid] = setting_metrics(fused, fits, sid, "mean", mods)
        FUSED[sid] = fused[fused["split"] == "test"].reset_index(drop=True)
    return out


EVALUATION = {"bootstrap": 300, "level": 0.95, "seed": 0}


def dataset_file(folder: Path, dataset: str = "kemdy19") -> str:
    """A results/dataset.json as rule dataset_info writes it."""
    from emoflow import datasets

    path = folder / f"dataset_{dataset}.json"
    path.write_text(json.dumps(datasets.describe(dataset, f"/data/{dataset}", False, {})))
    return str(path)


def run_table(paths, oracle, qc, out_table, out_png=None, dataset="kemdy19") -> pd.DataFrame:
    """Run the table script (rule ``table``) on these inputs; returns the CSV it wrote."""
    out_table = Path(out_table)
    folders = [Path(p).parent for p in paths]
    smk = SimpleNamespace(
        scriptdir=str(ROOT / "workflow" / "scripts"), rule="table", threads=1, log=[str(out_table) + ".log"],
        input=SimpleNamespace(metrics=list(paths), oracle=oracle, qc=qc,
                              segments=str(folders[0].parent / "seg.parquet"),
                              predictions=[str(f / "predictions.parquet") for f in folders],
                              dataset=dataset_file(out_table.parent, dataset)),
        params=SimpleNamespace(evaluation=EVALUATION),
        output=SimpleNamespace(table=str(out_table), per_class_f1=str(out_png or out_table.with_suffix(".png")),
                               comparisons=str(out_table.with_suffix(".comparisons.csv")),
                               metadata=str(out_table.with_suffix(".meta.json"))))
    try:
        run_script(ROOT / "workflow" / "scripts" / "table.py", smk)
    except SystemExit:
        raise DataError(out_table, Path(str(out_table) + ".log").read_text()) from None
    return pd.read_csv(out_table)


def write_inputs(tmp_path, metrics, oracle=True):
    paths = []
    for sid, m in metrics.items():
        p = tmp_path / "fusion" / sid / "metrics.json"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(m))
        FUSED[sid].to_parquet(p.parent / "predictions.parquet", index=False)
        paths.append(str(p))
    ids = FUSED["audio"]["segment_id"].unique()
    pd.DataFrame({"segment_id": ids, "session": "Session01",
                  "dialogue": [f"script{int(i[-3:]) % 8:02d}" for i in ids]}).to_parquet(
        tmp_path / "fusion" / "seg.parquet", index=False)
    oracle_path = []
    if oracle:
        o = {"settings": {sid: {"accuracy": 0.5 + 0.01 * i, "f1_macro": 0.3 + 0.01 * i, "f1_weighted": 0.4}
                          for i, sid in enumerate(SETTINGS)}}
        oracle_path = tmp_path / "oracle.json"
        oracle_path.write_text(json.dumps(o))
        oracle_path = str(oracle_path)
    qc = tmp_path / "qc.tsv"
    qc.write_text("modality\tstatus\treason\tn_segments\tfraction\naudio\tusable\t\t70\t1.0\n")
    return paths, oracle_path, str(qc)


def test_rows_columns_and_values(metrics):
    table = build_table(metrics)
    assert table["setting"].tolist() == LABELS
    assert list(table.columns) == BASE_COLUMNS + TAIL_COLUMNS == table_columns(False)
    for sid, row in zip(SETTINGS, table.itertuples(index=False)):
        m = metrics[sid]
        assert row.accuracy == pytest.approx(m["summary"]["accuracy"]["mean"])
        assert row.f1_macro_std == pytest.approx(m["summary"]["f1_macro"]["std"])
        assert (row.paper_accuracy, row.paper_f1) == PAPER_RESULTS[sid]
        assert row.n_test == 40 and row.n_seeds == 2
        assert row.majority_accuracy == pytest.approx(m["majority"]["accuracy"])
    # single-modality rows are the models themselves; the mean of two seeds has a positive spread
    assert (table["accuracy_std"] > 0).any()


def test_row_order_does_not_follow_input_order(metrics):
    reordered = dict(reversed(list(metrics.items())))
    pd.testing.assert_frame_equal(build_table(reordered), build_table(metrics))


def test_oracle_columns_only_with_oracle_file(tmp_path, metrics):
    paths, oracle, qc = write_inputs(tmp_path, metrics, oracle=True)
    with_oracle = run_table(paths, oracle, qc, tmp_path / "a.csv")
    oracle_columns = ["oracle_accuracy", "oracle_f1_macro", "oracle_expected_accuracy"]
    assert list(with_oracle.columns) == BASE_COLUMNS + oracle_columns + TAIL_COLUMNS + CI_COLUMNS
    assert with_oracle["oracle_accuracy"].tolist() == pytest.approx([0.50, 0.51, 0.52, 0.53, 0.54])
    without = run_table(paths, [], qc, tmp_path / "b.csv")
    assert not any(c.startswith("oracle") for c in without.columns)
    header = (tmp_path / "b.csv").read_text().splitlines()[0]
    assert header == ",".join(BASE_COLUMNS + TAIL_COLUMNS + CI_COLUMNS)


def test_csv_is_byte_identical_and_fixed_decimals(tmp_path, metrics):
    paths, oracle, qc = write_inputs(tmp_path, metrics)
    run_table(paths, oracle, qc, tmp_path / "one.csv", tmp_path / "f1.png")
    run_table(paths[::-1], oracle, qc, tmp_path / "two.csv")
    one = (tmp_path / "one.csv").read_bytes()
    assert one == (tmp_path / "two.csv").read_bytes()
    lines = one.decode().splitlines()
    assert len(lines) == 6 and "\r" not in one.decode()
    audio = dict(zip(lines[0].split(","), lines[1].split(",")))
    assert audio["setting"] == "Audio"
    assert audio["paper_accuracy"] == "0.6100" and audio["paper_f1"] == "0.3900"
    assert audio["n_test"] == "40" and audio["n_seeds"] == "2"
    assert re.fullmatch(r"\d\.\d{4}", audio["accuracy"])
    assert lines[5].startswith('"Audio+Text+Bio Signals",') or lines[5].startswith("Audio+Text+Bio Signals,")
    assert float(audio["accuracy_ci_low"]) <= float(audio["accuracy"]) <= float(audio["accuracy_ci_high"])
    comparisons = pd.read_csv(tmp_path / "one.comparisons.csv")
    assert list(comparisons.columns) == ["setting_a", "setting_b", "metric", "difference", "ci_low", "ci_high",
                                         "p_value", "p_holm"]
    assert len(comparisons) == 10 and (comparisons["p_holm"] >= comparisons["p_value"]).all()
    row = comparisons[(comparisons.setting_a == "Audio+Text") & (comparisons.setting_b == "Audio")
                      & (comparisons.metric == "accuracy")].iloc[0]
    t = pd.read_csv(tmp_path / "one.csv").set_index("setting")
    assert row["difference"] == pytest.approx(t.loc["Audio+Text", "accuracy"] - t.loc["Audio", "accuracy"], abs=2e-4)
    assert (tmp_path / "f1.png").read_bytes()[:4] == b"\x89PNG"


def test_per_class_f1(metrics):
    means, stds = per_class_f1(metrics)
    assert list(means) == LABELS
    seeds = metrics["audio"]["per_seed"]
    f1_happy = [seeds[s]["per_class"]["happy"]["f1"] for s in ("0", "1")]
    assert means["Audio"][EMOTIONS.index("happy")] == pytest.approx(np.mean(f1_happy))
    assert stds["Audio"][EMOTIONS.index("happy")] == pytest.approx(np.std(f1_happy, ddof=1))
    # 'fear' never occurs and is never the argmax of these tables: F1 0
    assert means["Audio"][EMOTIONS.index("fear")] == 0.0


def test_missing_inputs_raise(tmp_path, metrics):
    partial = {k: v for k, v in metrics.items() if k != "bio"}
    with pytest.raises(DataError, match="bio"):
        build_table(partial)
    with pytest.raises(DataError, match="setting 'text'"):
        build_table(metrics, {"settings": {"audio": {"accuracy": 0.1, "f1_macro": 0.1}}})
    paths, _oracle, qc = write_inputs(tmp_path, metrics, oracle=False)
    misplaced = tmp_path / "elsewhere" / "metrics.json"
    misplaced.parent.mkdir()
    misplaced.write_text(Path(paths[0]).read_text())
    with pytest.raises(DataError, match="folder"):
        run_table([str(misplaced)] + paths[1:], [], qc, tmp_path / "x.csv")
    with pytest.raises(DataError, match="given twice|folder"):
        run_table(paths + [paths[0]], [], qc, tmp_path / "x.csv")
    with pytest.raises(DataError, match="not found"):
        run_table(paths, str(tmp_path / "nope.json"), qc, tmp_path / "x.csv")


# ------------------------------------------------------------------------------------------ report
def caption_files() -> dict[str, str]:
    """caption file -> rule file, for every report() in the rule files."""
    found = {}
    for smk in sorted((ROOT / "workflow" / "rules").glob("*.smk")):
        for cap in re.findall(r'caption="\.\./report/([^"]+)"', smk.read_text()):
            found[cap] = smk.name
    return found


def render(path: Path, snakemake) -> str:
    import docutils.core
    import jinja2

    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    text = env.from_string(path.read_text()).render(snakemake=snakemake)
    # warnings (level 2) and above abort: malformed rst fails here rather than in the HTML report
    docutils.core.publish_parts(text, writer="html", settings_overrides={"halt_level": 2, "report_level": 5})
    return text


@pytest.mark.parametrize("data_dir", ["resources/synthetic/KEMDy19", "/data/KEMDy19"])
def test_report_captions_render(data_dir):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["data_dir"] = data_dir
    captions = caption_files()
    assert {"oracle.rst", "excluded.rst", "qc.rst", "curve.rst", "confusion.rst", "table1.rst",
            "per_class_f1.rst"} <= set(captions)
    report_dir = ROOT / "workflow" / "report"
    synthetic = data_dir.startswith("resources/")
    smk = SimpleNamespace(
        config=config,
        wildcards=SimpleNamespace(setting="audio+text", modality="text", seed="0"),
        params=SimpleNamespace(method="mean", modalities=["audio", "text"]),
        input=SimpleNamespace(oracle="results/oracle.json" if synthetic else []),
    )
    for cap in captions:
        assert (report_dir / cap).exists(), f"{cap} (referenced in {captions[cap]}) is missing"
        text = render(report_dir / cap, smk)
        assert text.strip()
    overview = render(report_dir / "workflow.rst", SimpleNamespace(config=config))
    assert ("synthetic data" in overview) == synthetic
    assert "0.05-2" not in overview and "Nyquist" in overview and "macro" in overview
    table_caption = render(report_dir / "table1.rst", smk)
    assert ("oracle_accuracy" in table_caption) == synthetic


@pytest.mark.parametrize("dataset, reference, has_paper", [("kemdy19", (0.702, 0.664), True),
                                                           ("kemdy20", (0.874, 0.408), False)])
def test_reference_columns_and_paper_columns_per_dataset(tmp_path, metrics, dataset, reference, has_paper):
    """Both datasets carry their published Audio+Text anchor; the paper's columns are KEMDy19's only (empty
    in the KEMDy20 CSV); the metadata names the dataset and data_dir."""
    table = build_table(metrics, dataset=dataset).set_index("setting")
    assert tuple(table.loc["Audio+Text", ["reference_accuracy", "reference_f1_macro"]]) == reference
    others = table.drop(index="Audio+Text")
    assert others["reference_accuracy"].isna().all() and others["reference_f1_macro"].isna().all()
    assert table["paper_accuracy"].notna().all() == has_paper and table["paper_f1"].isna().all() != has_paper
    paths, _, qc = write_inputs(tmp_path, metrics, oracle=False)
    out = tmp_path / "t.csv"
    run_table(paths, [], qc, out, dataset=dataset)
    header, audio_text = (out.read_text().splitlines()[i].split(",") for i in (0, 4))
    row = dict(zip(header, audio_text))
    assert row["setting"] == "Audio+Text" and float(row["reference_accuracy"]) == reference[0]
    assert (row["paper_accuracy"] == "") != has_paper
    meta = json.loads(out.with_suffix(".meta.json").read_text())
    assert meta["dataset"] == dataset and meta["data_dir"] == f"/data/{dataset}"
    assert meta["reference_columns"]["values"] == {"audio+text": list(reference)}
