# Stage 3: one model per modality and seed; checkpoints (safetensors) and validation/test probabilities.


rule train:
    """Train one modality's model for one seed; pick the best epoch on the validation split."""
    input:
        unpack(model_inputs),
    output:
        model="results/models/{modality}/seed{seed}/model.safetensors",
        config="results/models/{modality}/seed{seed}/config.json",
        preprocessing="results/models/{modality}/seed{seed}/preprocessing.json",
        curve="results/models/{modality}/seed{seed}/curve.csv",
        curve_png=report(
            "results/models/{modality}/seed{seed}/curve.png",
            caption="../report/curve.rst",
            category="Training curves",
            labels={"modality": "{modality}", "seed": "{seed}"},
        ),
        predictions="results/models/{modality}/seed{seed}/predictions.parquet",
    log:
        "logs/train/{modality}/seed{seed}.log",
    benchmark:
        "benchmarks/train/{modality}/seed{seed}.tsv"
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
    script:
        "../scripts/train.py"


rule gather_predictions:
    """All seeds of one modality in one table (column seed), validated and keyed by segment_id."""
    input:
        parts=expand("results/models/{{modality}}/seed{seed}/predictions.parquet", seed=SEEDS),
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
