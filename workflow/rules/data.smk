# Stage 1: the dataset (synthetic stand-in when data_dir is the default) and the segment index.

if IS_SYNTH:

    rule synth_data:
        """Generate the synthetic KEMDy19 stand-in (same on-disk layout, latent cue model in _truth/)."""
        output:
            root=directory(SYNTH_ROOT),
            manifest=SYNTH_STAMP,
        input:
            code=code("synth.py"),
        params:
            synthetic=config["synthetic"],
        log:
            "logs/synth_data.log",
        benchmark:
            "benchmarks/synth_data.tsv"
        threads: 1
        resources:
            mem_mb=mem(2000),
            runtime=minutes(30),
        conda:
            "../../envs/data.yaml"
        script:
            "../scripts/synth_data.py"

    rule oracle:
        """Bayes-optimal accuracy/F1 of each setting on the test split, from the known cue model."""
        input:
            segments="results/segments.parquet",
            manifest=SYNTH_STAMP,
            code=code("oracle.py"),
        output:
            report(
                "results/oracle.json",
                caption="../report/oracle.rst",
                category="Data",
            ),
        params:
            truth_dir=os.path.join(SYNTH_ROOT, "_truth"),
        log:
            "logs/oracle.log",
        threads: 1
        resources:
            mem_mb=mem(1000),
            runtime=minutes(5),
        conda:
            "../../envs/data.yaml"
        script:
            "../scripts/oracle.py"


rule index_segments:
    """One row per utterance from the speaker's own annotation file, resolved label and split."""
    input:
        annotations=annotation_files(),
        code=code("reader.py", "split.py"),
    output:
        segments="results/segments.parquet",
        excluded=report(
            "results/qc/excluded.tsv",
            caption="../report/excluded.rst",
            category="Quality control",
        ),
        summary="results/qc/index_summary.json",
    params:
        data_dir=lambda w: DATA_DIR,
        sessions=SESSIONS,
        labels=config["labels"],
        split=config["split"],
    log:
        "logs/index_segments.log",
    benchmark:
        "benchmarks/index_segments.tsv"
    threads: 1
    resources:
        mem_mb=mem(2000),
        runtime=minutes(10),
    conda:
        "../../envs/data.yaml"
    script:
        "../scripts/index_segments.py"
