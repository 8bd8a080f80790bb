# Stage 1: the dataset (synthetic stand-in when data_dir is the default) and the segment index.

if IS_SYNTH:

    rule synth_data:
        """Generate the synthetic stand-in in the KEMDy19 or KEMDy20 layout (synthetic.layout; latent cue model
        in _truth/)."""
        input:
            code=script_code("synth_data.py"),
        output:
            root=directory(SYNTH_ROOT),
            manifest=SYNTH_STAMP,
        log:
            "logs/synth_data.log",
        benchmark:
            "benchmarks/synth_data.tsv"
        conda:
            "../../envs/data.yaml"
        threads: 1
        resources:
            mem_mb=mem(2000),
            runtime=minutes(30),
        params:
            synthetic=config["synthetic"],
        script:
            "../scripts/synth_data.py"

    rule oracle:
        """Bayes-optimal accuracy/F1 of each setting on the test split, from the known cue model."""
        input:
            segments="results/segments.parquet",
            manifest=SYNTH_STAMP,
            code=script_code("oracle.py"),
        output:
            report(
                "results/oracle.json",
                caption="../report/oracle.rst",
                category="Data",
            ),
        log:
            "logs/oracle.log",
        benchmark:
            "benchmarks/oracle.tsv"
        conda:
            "../../envs/data.yaml"
        threads: 1
        resources:
            mem_mb=mem(1000),
            runtime=minutes(5),
        params:
            truth_dir=os.path.join(SYNTH_ROOT, "_truth"),
        script:
            "../scripts/oracle.py"


rule index_segments:
    """One row per utterance from the speaker's own annotation file, resolved label and split."""
    input:
        annotations=annotation_files(),
        code=script_code("index_segments.py"),
    output:
        segments="results/segments.parquet",
        folds="results/folds.parquet",
        excluded=report(
            "results/qc/excluded.tsv",
            caption="../report/excluded.rst",
            category="Quality control",
        ),
        summary="results/qc/index_summary.json",
    log:
        "logs/index_segments.log",
    benchmark:
        "benchmarks/index_segments.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=mem(2000),
        runtime=minutes(10),
    params:
        data_dir=lambda w: DATA_DIR,
        sessions=SESSIONS,
        dataset=DATASET,
        labels=config["labels"],
        split=config["split"],
    script:
        "../scripts/index_segments.py"


rule dataset_info:
    """The dataset of this results folder and the values its null config keys took (results/dataset.json),
    recorded with Table 1 and in the report."""
    input:
        code=script_code("dataset_info.py"),
    output:
        "results/dataset.json",
    log:
        "logs/dataset_info.log",
    benchmark:
        "benchmarks/dataset_info.tsv"
    localrule: True
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=mem(200),
        runtime=minutes(1),
    params:
        dataset=DATASET,
        data_dir=DATA_DIR,
        synthetic=IS_SYNTH,
        resolved=DATASET_DEFAULTS,
    script:
        "../scripts/dataset_info.py"
