# Stage 2: feature tables keyed by segment_id, one job per participant file or session, then gathered.


rule bio_features:
    """ECG -> HRV, EDA -> FFT bands, TEMP -> trend, for the segments spoken by one participant."""
    input:
        segments="results/segments.parquet",
        raw=lambda w: raw_if_exists(bio_relpath(w)),
        code=lambda w: script_code("bio_features.py", bio_registry.MODULES[w.signal]),
    output:
        "results/features/{signal}/{participant}.parquet",
    log:
        "logs/bio_features/{signal}/{participant}.log",
    benchmark:
        "benchmarks/bio_features/{signal}/{participant}.tsv"
    group:
        "bio_features"
    conda:
        "../../envs/features.yaml"
    threads: 1
    resources:
        mem_mb=mem(2000),
        runtime=minutes(20),
    params:
        settings=lambda w: config["bio"][w.signal],
        raw=bio_raw_path,
    script:
        "../scripts/bio_features.py"


rule gather_bio:
    """Join the features of the signals in use (bio.signals: ECG, EDA, TEMP) on segment_id; QC counts and
    the missing-fraction check."""
    input:
        segments="results/segments.parquet",
        parts=expand(
            "results/features/{signal}/{participant}.parquet",
            signal=BIO_USED,
            participant=PARTICIPANTS,
        ),
        code=script_code("gather_bio.py", *(bio_registry.MODULES[s] for s in BIO_USED)),
    output:
        features="results/features/bio.parquet",
        qc="results/qc/bio.tsv",
    log:
        "logs/gather_bio.log",
    benchmark:
        "benchmarks/gather_bio.tsv"
    conda:
        "../../envs/features.yaml"
    threads: 1
    resources:
        mem_mb=mem(2000),
        runtime=minutes(10),
    params:
        max_missing={s: config["qc"]["max_missing_fraction"][s] for s in BIO_USED},
        settings={s: config["bio"][s] for s in BIO_USED},
    script:
        "../scripts/gather_bio.py"


if TEXT_LOCAL:

    rule build_text_backbone:
        """Train a SentencePiece tokenizer on the training split only and initialise a small BERT;
        both saved in Hugging Face format so training loads them through from_pretrained()."""
        input:
            segments="results/segments.parquet",
            folds="results/folds.parquet",
            code=script_code("build_text_backbone.py"),
        output:
            directory("results/text/fold{fold}/backbone"),
        log:
            "logs/build_text_backbone/fold{fold}.log",
        benchmark:
            "benchmarks/build_text_backbone/fold{fold}.tsv"
        conda:
            "../../envs/text.yaml"
        threads: 1
        resources:
            mem_mb=mem(2000),
            runtime=minutes(10),
        params:
            vocab_size=config["text"]["vocab_size"],
            tag_policy=config["text"]["tag_policy"],
            overlap=config["text"]["overlap"],
            max_length=config["text"]["max_length"],
            backbone=config["text"]["backbone"],
            seed=config["split"]["seed"],
            fold=lambda w: int(w.fold),
        script:
            "../scripts/build_text_backbone.py"

elif not _pretrained_is_folder():

    localrules:
        fetch_pretrained,

    rule fetch_pretrained:
        """The only rule that may reach the network: copy a hub model to resources/ (run it on a
        login node; compute jobs then load the local folder offline)."""
        input:
            code=script_code("fetch_pretrained.py"),
        output:
            directory(text_backbone_dir()),
        log:
            "logs/fetch_pretrained.log",
        benchmark:
            "benchmarks/fetch_pretrained.tsv"
        conda:
            "../../envs/text.yaml"
        threads: 1
        resources:
            mem_mb=mem(4000),
            runtime=minutes(30),
        params:
            name=config["text"]["pretrained"],
            revision=config["text"]["revision"],
        script:
            "../scripts/fetch_pretrained.py"


rule text_features:
    """Tokenise transcripts to input_ids / attention_mask with the backbone's tokenizer."""
    input:
        segments="results/segments.parquet",
        backbone=text_backbone_dir(),
        code=script_code("text_features.py"),
    output:
        features="results/features/text/fold{fold}.parquet",
        qc="results/qc/text/fold{fold}.tsv",
    log:
        "logs/text_features/fold{fold}.log",
    benchmark:
        "benchmarks/text_features/fold{fold}.tsv"
    conda:
        "../../envs/text.yaml"
    threads: 1
    resources:
        mem_mb=mem(2000),
        runtime=minutes(15),
    params:
        tag_policy=config["text"]["tag_policy"],
        overlap=config["text"]["overlap"],
        max_length=config["text"]["max_length"],
        max_missing=config["qc"]["max_missing_fraction"]["text"],
    script:
        "../scripts/text_features.py"


rule audio_features:
    """Load, resample, normalise and crop/pad one session's clips to a float16 array."""
    input:
        segments="results/segments.parquet",
        raw=lambda w: raw("wav", w.session),
        code=script_code("audio_features.py"),
    output:
        array=temp("results/features/audio/{session}.npy"),
        index=temp("results/features/audio/{session}.parquet"),
    log:
        "logs/audio_features/{session}.log",
    benchmark:
        "benchmarks/audio_features/{session}.tsv"
    group:
        "audio_features"
    conda:
        "../../envs/audio.yaml"
    threads: 1
    resources:
        mem_mb=mem(3000),
        runtime=minutes(20),
    params:
        settings={k: config["audio"][k] for k in ("sample_rate", "max_seconds", "crop", "normalize", "min_seconds")},
        data_dir=DATA_DIR,  # the clips' wav_path is relative to it (real or synthetic data alike)
    script:
        "../scripts/audio_features.py"


rule gather_audio:
    """Concatenate the per-session arrays into one float16 array plus an index by segment_id."""
    input:
        segments="results/segments.parquet",
        arrays=expand("results/features/audio/{session}.npy", session=SESSIONS),
        indexes=expand("results/features/audio/{session}.parquet", session=SESSIONS),
        code=script_code("gather_audio.py"),
    output:
        array="results/features/audio.npy",
        index="results/features/audio.parquet",
        qc="results/qc/audio.tsv",
    log:
        "logs/gather_audio.log",
    benchmark:
        "benchmarks/gather_audio.tsv"
    conda:
        "../../envs/audio.yaml"
    threads: 1
    resources:
        mem_mb=mem(6000),
        runtime=minutes(10),
    params:
        max_missing=config["qc"]["max_missing_fraction"]["audio"],
    script:
        "../scripts/gather_audio.py"


rule qc_summary:
    """Per-modality counts of usable segments and the reasons for the others."""
    input:
        bio="results/qc/bio.tsv",
        text=expand("results/qc/text/fold{fold}.tsv", fold=FOLDS),
        audio="results/qc/audio.tsv",
        excluded="results/qc/excluded.tsv",
        code=script_code("qc_summary.py"),
    output:
        report(
            "results/qc/features.tsv",
            caption="../report/qc.rst",
            category="Quality control",
        ),
    log:
        "logs/qc_summary.log",
    benchmark:
        "benchmarks/qc_summary.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=mem(500),
        runtime=minutes(2),
    script:
        "../scripts/qc_summary.py"
