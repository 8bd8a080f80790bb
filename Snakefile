# Multimodal emotion classification on KEMDy19 (audio, text, ECG/EDA/TEMP) with late fusion.
# Thin entry point: config + schema validation and the rule files, one per stage.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    session=r"Session\d+",
    participant=r"Sess\d+[FM]?",
    signal="|".join(BIO_SIGNALS),
    modality="|".join(MODALITIES),
    seed=r"\d+",
    fold=r"\d+",


include: "workflow/rules/data.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/fusion.smk"


rule all:
    """Default target: Table 1 (which pulls in every setting, the figures and the QC summary)."""
    default_target: True
    input:
        "results/table1.csv",
    localrule: True
