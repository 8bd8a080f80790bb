# Stage 4: late fusion per setting, metrics, Table 1 and the report figures.


rule fuse:
    """Late fusion of the setting's modalities (joined on segment_id) in one fold: fitted on the fold's
    validation rows, evaluated on its test rows."""
    input:
        unpack(fold_predictions),
        segments="results/segments.parquet",
        folds="results/folds.parquet",
        code=script_code("fuse.py"),
    output:
        predictions="results/fusion/{setting}/fold{fold}/predictions.parquet",
        metrics="results/fusion/{setting}/fold{fold}/metrics.json",
    log:
        "logs/fuse/{setting}/fold{fold}.log",
    benchmark:
        "benchmarks/fuse/{setting}/fold{fold}.tsv"
    wildcard_constraints:
        setting=SETTING_REGEX,
    conda:
        "../../envs/fusion.yaml"
    threads: 1
    resources:
        mem_mb=mem(1000),
        runtime=minutes(5),
    params:
        method=config["fusion"]["method"],
        calibrate=config["fusion"]["calibrate"],
        modalities=lambda w: setting_modalities(w.setting),
        seed=config["split"]["seed"],
        fold=lambda w: int(w.fold),
    script:
        "../scripts/fuse.py"


rule pool_folds:
    """The setting's folds pooled: every utterance tested once per seed; metrics on the pooled test rows
    beside each fold's, and the confusion matrix."""
    input:
        predictions=expand("results/fusion/{{setting}}/fold{fold}/predictions.parquet", fold=FOLDS),
        metrics=expand("results/fusion/{{setting}}/fold{fold}/metrics.json", fold=FOLDS),
        code=script_code("pool_folds.py"),
    output:
        predictions="results/fusion/{setting}/predictions.parquet",
        metrics="results/fusion/{setting}/metrics.json",
        confusion=report(
            "results/fusion/{setting}/confusion.png",
            caption="../report/confusion.rst",
            category="Confusion matrices",
            labels={"setting": "{setting}"},
        ),
    log:
        "logs/pool_folds/{setting}.log",
    benchmark:
        "benchmarks/pool_folds/{setting}.tsv"
    wildcard_constraints:
        setting=SETTING_REGEX,
    conda:
        "../../envs/fusion.yaml"
    threads: 1
    resources:
        mem_mb=mem(1000),
        runtime=minutes(5),
    script:
        "../scripts/pool_folds.py"


rule unknown_setting:
    """Turns a request for an unknown setting into an error that lists the valid names."""
    input:
        unknown_setting,
    output:
        "results/fusion/{setting}/{file}",
    log:
        "logs/unknown_setting/{setting}/{file}.log",
    benchmark:
        "benchmarks/unknown_setting/{setting}/{file}.tsv"
    wildcard_constraints:
        setting=rf"(?!(?:{SETTING_REGEX})/)[^/]+",
    localrule: True
    conda:
        "../../envs/data.yaml"
    shell:
        "false"


rule table:
    """Table 1 (one row per setting, paper order, with the paper's and the oracle's figures and
    dialogue-bootstrap intervals), the paired comparisons between settings and the per-class F1 chart. It waits for the feature QC summary, so no table hides dropped segments.
    """
    input:
        metrics=expand("results/fusion/{setting}/metrics.json", setting=SETTING_IDS),
        predictions=expand("results/fusion/{setting}/predictions.parquet", setting=SETTING_IDS),
        modality_predictions=expand("results/predictions/{m}.parquet", m=MODALITIES),
        segments="results/segments.parquet",
        oracle="results/oracle.json" if IS_SYNTH else [],
        qc="results/qc/features.tsv",
        dataset="results/dataset.json",
        # not read: the data figures join the report whenever the table is built
        data_figures=rules.data_figures.output,
        code=script_code("table.py"),
    output:
        table=report(
            "results/table1.csv",
            caption="../report/table1.rst",
            category="Results",
        ),
        metadata="results/table1.meta.json",
        comparisons=report(
            "results/comparisons.csv",
            caption="../report/comparisons.rst",
            category="Results",
        ),
        per_class_f1=report(
            "results/figures/per_class_f1.png",
            caption="../report/per_class_f1.rst",
            category="Results",
        ),
    log:
        "logs/table.log",
    benchmark:
        "benchmarks/table.tsv"
    conda:
        "../../envs/fusion.yaml"
    threads: 1
    resources:
        mem_mb=mem(500),
        runtime=minutes(2),
    params:
        settings=SETTING_IDS,
        evaluation=config["evaluation"],
    script:
        "../scripts/table.py"
