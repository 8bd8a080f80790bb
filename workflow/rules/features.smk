# Stage 2: feature tables keyed by segment_id, one job per participant file or session, then gathered.


rule bio_features:
    """ECG -> HRV, EDA -> FFT bands, TEMP -> trend, IBI -> HRV, for the segments of one KEMDy19 participant
    file (Sess01F) or of one KEMDy20 session's user-script files (Sess01)."""
    input:
        segments="results/segments.parquet",
        raw=bio_raw_files,
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
        align=config["bio"]["align"],
        data_dir=DATA_DIR,
    script:
        "../scripts/bio_features.py"


rule gather_bio:
    """Join the features of the signals in use (bio.signals: ECG, EDA, TEMP, IBI) on segment_id; QC counts and
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
            kind="text",
        script:
            "../scripts/fetch_pretrained.py"


if AUDIO_SSL and not hub.is_local(config["audio"]["pretrained"]):

    localrules:
        fetch_ssl,

    rule fetch_ssl:
        """Like fetch_pretrained, for the speech encoder of audio.encoder ssl: copy a hub model (feature
        extractor + weights) to resources/ on the submission host; compute jobs load that folder offline."""
        input:
            code=script_code("fetch_pretrained.py"),
        output:
            directory(SSL_DIR),
        log:
            "logs/fetch_ssl.log",
        benchmark:
            "benchmarks/fetch_ssl.tsv"
        conda:
            "../../envs/ssl.yaml"
        threads: 1
        resources:
            mem_mb=mem(4000),
            runtime=minutes(30),
        params:
            name=config["audio"]["pretrained"],
            revision=config["audio"]["revision"],
            kind="audio",
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
    """Load, resample, normalise and crop/pad one session's clips to a float16 array (whole clips in windows
    with audio.max_seconds null)."""
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
        settings={
            k: config["audio"][k]
            for k in ("sample_rate", "max_seconds", "window_seconds", "crop", "normalize", "min_seconds")
        },
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


rule audio_logmel:
    """The fixed log-mel front end of the logmel audio CNN, computed once per window for every fold and seed
    (not in every epoch of every training job)."""
    input:
        array="results/features/audio.npy",
        index="results/features/audio.parquet",
        code=script_code("audio_logmel.py"),
    output:
        "results/features/audio_logmel.npy",
    log:
        "logs/audio_logmel.log",
    benchmark:
        "benchmarks/audio_logmel.tsv"
    conda:
        "../../envs/audio.yaml"
    threads: 1
    resources:
        mem_mb=mem(4000),
        runtime=minutes(20),
    params:
        sample_rate=config["audio"]["sample_rate"],
    script:
        "../scripts/audio_logmel.py"


rule qc_summary:
    """Per-modality counts of usable segments and the reasons for the others."""
    input:
        bio="results/qc/bio.tsv",
        text=feature_qc("text"),  # those of the configured encoders' feature rules
        audio=feature_qc("audio"),
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


rule egemaps_features:
    """openSMILE functionals (audio.egemaps.feature_set) of one session's whole utterances."""
    input:
        segments="results/segments.parquet",
        raw=lambda w: raw("wav", w.session),
        code=script_code("egemaps_features.py"),
    output:
        f"results/features/opensmile/{OPENSMILE_SET}/{{session}}.parquet",
    log:
        "logs/egemaps_features/{session}.log",
    benchmark:
        "benchmarks/egemaps_features/{session}.tsv"
    group:
        "egemaps_features"
    conda:
        "../../envs/audio.yaml"
    threads: 1
    resources:
        mem_mb=mem(2000),
        runtime=minutes(60),
    params:
        settings={
            "feature_set": config["audio"]["egemaps"]["feature_set"],
            "sample_rate": config["audio"]["sample_rate"],
            "min_seconds": config["audio"]["min_seconds"],
        },
        data_dir=DATA_DIR,  # the clips' wav_path is relative to it (real or synthetic data alike)
    script:
        "../scripts/egemaps_features.py"


rule gather_egemaps:
    """The sessions' openSMILE tables in one table by segment_id, with its QC counts."""
    input:
        segments="results/segments.parquet",
        parts=expand(f"results/features/opensmile/{OPENSMILE_SET}/{{session}}.parquet", session=SESSIONS),
        code=script_code("gather_egemaps.py"),
    output:
        features=FEATURE_FILES["audio"]["egemaps"],
        qc=FEATURE_QC["audio"]["egemaps"],
    log:
        "logs/gather_egemaps.log",
    benchmark:
        "benchmarks/gather_egemaps.tsv"
    conda:
        "../../envs/audio.yaml"
    threads: 1
    resources:
        mem_mb=mem(2000),
        runtime=minutes(10),
    params:
        max_missing=config["qc"]["max_missing_fraction"]["audio"],
    script:
        "../scripts/gather_egemaps.py"


rule text_morphemes:
    """kiwipiepy morphemes (form/TAG) of every cleaned transcript, once for all folds."""
    input:
        segments="results/segments.parquet",
        code=script_code("text_morphemes.py"),
    output:
        features=FEATURE_FILES["text"]["morphemes"],
        qc="results/qc/text/morphemes.tsv",
    log:
        "logs/text_morphemes.log",
    benchmark:
        "benchmarks/text_morphemes.tsv"
    conda:
        "../../envs/text.yaml"
    threads: 1
    resources:
        mem_mb=mem(2000),
        runtime=minutes(15),
    params:
        tag_policy=config["text"]["tag_policy"],
        overlap=config["text"]["overlap"],
        max_missing=config["qc"]["max_missing_fraction"]["text"],
    script:
        "../scripts/text_morphemes.py"


rule ssl_embeddings:
    """A frozen pretrained speech encoder (audio.pretrained) over one session's whole utterances, in windows of
    at most audio.window_seconds: every layer's hidden states averaged over time, one row per segment_id."""
    input:
        segments="results/segments.parquet",
        raw=lambda w: raw("wav", w.session),
        encoder=SSL_DIR,
        code=script_code("ssl_embeddings.py"),
    output:
        array=f"{SSL_FEATURES}/{{session}}.npy",
        index=f"{SSL_FEATURES}/{{session}}.parquet",
    log:
        f"logs/ssl_embeddings/{SSL_SLUG}/{{session}}.log",
    benchmark:
        f"benchmarks/ssl_embeddings/{SSL_SLUG}/{{session}}.tsv"
    conda:
        "../../envs/ssl.yaml"
    # One thread by default, like train (two session jobs side by side on 2 cores); a base-size encoder on a
    # larger CPU node runs faster with more: --set-threads ssl_embeddings=8. A GPU helps most (--config gpu=1).
    threads: 1
    resources:
        mem_mb=mem(4000),
        runtime=minutes(120),
        gpu=config["gpu"],
    params:
        window_seconds=config["audio"]["window_seconds"],
        min_seconds=config["audio"]["min_seconds"],
        device=config["device"],
        data_dir=DATA_DIR,  # the clips' wav_path is relative to it (real or synthetic data alike)
    script:
        "../scripts/ssl_embeddings.py"


rule gather_ssl:
    """The sessions' embeddings in one array with an index by segment_id, and its QC counts."""
    input:
        segments="results/segments.parquet",
        arrays=expand(f"{SSL_FEATURES}/{{session}}.npy", session=SESSIONS),
        indexes=expand(f"{SSL_FEATURES}/{{session}}.parquet", session=SESSIONS),
        code=script_code("gather_ssl.py"),
    output:
        array=FEATURE_FILES["audio"]["embeddings"],
        index=FEATURE_FILES["audio"]["embeddings_index"],
        qc=SSL_QC,
    log:
        f"logs/gather_ssl/{SSL_SLUG}.log",
    benchmark:
        f"benchmarks/gather_ssl/{SSL_SLUG}.tsv"
    conda:
        "../../envs/ssl.yaml"
    threads: 1
    resources:
        mem_mb=mem(6000),
        runtime=minutes(10),
    params:
        max_missing=config["qc"]["max_missing_fraction"]["audio"],
    script:
        "../scripts/gather_ssl.py"


rule data_figures:
    """What the models see: one participant's bio signals over a dialogue with the segment boundaries the
    features use, and the per-class distributions of the main features (bio, duration, eGeMAPS)."""
    input:
        segments="results/segments.parquet",
        raw=figure_raw_files,
        features=[FEATURE_FILES["bio"]["features"]]
        + ([FEATURE_FILES["audio"]["egemaps"]] if config["audio"]["encoder"] == "egemaps" else []),
        code=script_code("data_figures.py", *(bio_registry.MODULES[s] for s in BIO_USED)),
    output:
        signals=report(
            "results/figures/signals.png",
            caption="../report/signals.rst",
            category="Data",
        ),
        features=report(
            "results/figures/feature_distributions.png",
            caption="../report/feature_distributions.rst",
            category="Data",
        ),
    log:
        "logs/data_figures.log",
    benchmark:
        "benchmarks/data_figures.tsv"
    conda:
        "../../envs/features.yaml"
    threads: 1
    resources:
        mem_mb=mem(2000),
        runtime=minutes(5),
    params:
        units=FIGURE_UNITS,
        data_dir=DATA_DIR,
        signals=BIO_USED,
        settings={s: config["bio"][s] for s in BIO_USED},
        align=config["bio"]["align"],
    script:
        "../scripts/data_figures.py"
