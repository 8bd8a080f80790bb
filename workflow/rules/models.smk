# Stage 3: one model per modality, fold and seed; checkpoints (safetensors) and validation/test probabilities.


rule train:
    """Train one modality's model for one fold and seed; pick the best epoch on the fold's validation part."""
    input:
        unpack(model_inputs),
    output:
        model="results/models/{modality}/fold{fold}/seed{seed}/model.safetensors",
        config="results/models/{modality}/fold{fold}/seed{seed}/config.json",
        preprocessing="results/models/{modality}/fold{fold}/seed{seed}/preprocessing.json",
        curve="results/models/{modality}/fold{fold}/seed{seed}/curve.csv",
        curve_png=report(
            "results/models/{modality}/fold{fold}/seed{seed}/curve.png",
            caption="../report/curve.rst",
            category="Training curves",
            labels={"modality": "{modality}", "fold": "{fold}", "seed": "{seed}"},
        ),
        predictions="results/models/{modality}/fold{fold}/seed{seed}/predictions.parquet",
    log:
        "logs/train/{modality}/fold{fold}/seed{seed}.log",
    benchmark:
        "benchmarks/train/{modality}/fold{fold}/seed{seed}.tsv"
    conda:
        "../../envs/models.yaml"
    # One torch thread per job: the default models are small, a second thread barely speeds up one job,
    # and two single-threaded jobs side by side finish the training stage about 2x sooner on 2 cores
    # (BENCHMARKS.md, section 5). For a large model on CPU (KoBERT), give it more: --set-threads train=8.
    threads: 1
    resources:
        mem_mb=mem(4000),
        runtime=minutes(60),
        gpu=lambda w: config["gpu"] if encoder(w.modality).gpu else 0,
    params:
        train=lambda w: train_params(w.modality),
        encoder=lambda w: config[w.modality]["encoder"],
        seed=lambda w: int(w.seed),
        fold=lambda w: int(w.fold),
    script:
        "../scripts/train.py"


rule gather_predictions:
    """All folds and seeds of one modality in one table (columns fold, seed), validated, keyed by segment_id."""
    input:
        parts=expand("results/models/{{modality}}/fold{fold}/seed{seed}/predictions.parquet", fold=FOLDS, seed=SEEDS),
        code=script_code("gather_predictions.py"),
    output:
        "results/predictions/{modality}.parquet",
    log:
        "logs/gather_predictions/{modality}.log",
    benchmark:
        "benchmarks/gather_predictions/{modality}.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=mem(1000),
        runtime=minutes(5),
    script:
        "../scripts/gather_predictions.py"
