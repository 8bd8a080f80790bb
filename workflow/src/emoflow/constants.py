"""Names shared by every stage: emotions, settings, paper figures."""

# Canonical class order used for every probability column and confusion matrix.
EMOTIONS = ["neutral", "happy", "surprise", "angry", "sad", "disgust", "fear"]

# The one emotion -> class index map (position in EMOTIONS).
CLASS_INDEX = {e: i for i, e in enumerate(EMOTIONS)}

# Order in which KEMDy19 lists tied labels in a `;`-joined Total Evaluation cell.
KEMDY19_TIE_ORDER = ["neutral", "happy", "sad", "angry", "fear", "disgust", "surprise"]
# KEMDy20 lists them in another order (``first`` would pick happy over neutral).
KEMDY20_TIE_ORDER = ["happy", "surprise", "angry", "neutral", "disgust", "fear", "sad"]

# Spellings seen in real copies, mapped to the canonical label.
LABEL_ALIASES = {"disqust": "disgust"}

PROB_COLUMNS = [f"prob_{e}" for e in EMOTIONS]

# setting id (wildcard, path-safe) -> (table label, modalities)
SETTINGS = {
    "audio": ("Audio", ["audio"]),
    "text": ("Text", ["text"]),
    "bio": ("Bio Signals", ["bio"]),
    "audio+text": ("Audio+Text", ["audio", "text"]),
    "audio+text+bio": ("Audio+Text+Bio Signals", ["audio", "text", "bio"]),
}

# Paired comparisons reported beside Table 1 (results/comparisons.csv): (setting a, setting b), a - b.
COMPARISONS = [
    ("audio+text+bio", "audio"),
    ("audio+text+bio", "text"),
    ("audio+text+bio", "bio"),
    ("audio+text+bio", "audio+text"),
    ("audio+text", "audio"),
]
COMPARISON_METRICS = ["accuracy", "f1_macro"]

# Table 1 of the paper: (accuracy, F1).
PAPER_RESULTS = {
    "audio": (0.61, 0.39),
    "text": (0.41, 0.26),
    "bio": (0.52, 0.31),
    "audio+text": (0.63, 0.42),
    "audio+text+bio": (0.70, 0.49),
}

# Published reproducible anchors per dataset (Table 1 columns reference_accuracy, reference_f1_macro):
# wav2vec2-base + klue/bert-base, 5-fold session cross-validation, on the Audio+Text row only. KEMDy19:
# 0.702 / 0.664; KEMDy20 (ties dropped): accuracy 0.874 +- 0.013, macro F1 0.408 +- 0.059 (majority
# class about 0.867). The paper's figures (PAPER_RESULTS) are KEMDy19's only.
REFERENCE_RESULTS = {
    "kemdy19": {"audio+text": (0.702, 0.664)},
    "kemdy20": {"audio+text": (0.874, 0.408)},
}
PAPER_DATASET = "kemdy19"

SPLITS = ["train", "val", "test"]

# Synthetic dataset sizes. ``n_sessions`` and ``dialogues`` are read by the workflow at parse time;
# ``utterances_per_dialogue`` is the (min, max) number of utterances (both speakers) per dialogue;
# ``duration_s`` is the (median, min, max, sigma) utterance duration in seconds (log-normal with that
# median and log-sd, clipped). KEMDy19: median 4.2 s, 52 % over 4 s, 17 % over 10 s, ~10 % over 13 s,
# longest 78 s (log-normal sigma 0.88 matches all four); tiny keeps short clips for fast tests.
SYNTH_SIZES = {
    "tiny": {
        "n_sessions": 3,
        "dialogues": ["script01", "impro01"],
        "utterances_per_dialogue": (10, 14),
        "duration_s": (2.0, 1.0, 3.5, 0.4),
    },
    "small": {
        "n_sessions": 6,
        "dialogues": ["script01", "script02", "impro01", "impro02"],
        "utterances_per_dialogue": (28, 36),
        "duration_s": (4.2, 0.6, 78.0, 0.88),
    },
    "full": {
        "n_sessions": 20,
        "dialogues": [f"script{i:02d}" for i in range(1, 7)] + [f"impro{i:02d}" for i in range(1, 5)],
        "utterances_per_dialogue": (30, 72),
        "duration_s": (4.2, 0.6, 78.0, 0.88),
    },
}

# Bio signal name -> dataset folder. KEMDy19 has ecg, eda, temp; KEMDy20 eda, temp, ibi (emoflow.datasets).
BIO_SIGNALS = {"ecg": "ECG", "eda": "EDA", "temp": "TEMP", "ibi": "IBI"}


# KEMDy19 names a session's folders ``SessionSS`` and its two participant files ``SessSSF``/``SessSSM``;
# KEMDy20 has one bio file per user and script, ``SessSS_scriptNN_UserNNN{M|F}``.
def participant_session(participant: str) -> str:
    """``Sess01F``, ``Sess01_script01_User002M`` or ``Sess01`` -> ``Session01``."""
    digits = participant[len("Sess"):].split("_")[0].rstrip("FM")
    return f"Session{digits}"


def bio_file_key(session: str, dialogue: str, speaker: str) -> str:
    """The bio file (stem) holding a segment's own signals: ``Sess01F`` (KEMDy19: session and gender) or
    ``Sess01_script01_User002M`` (KEMDy20, speaker = user id: one file per user and script)."""
    short = f"Sess{session[len('Session'):]}"
    return f"{short}_{dialogue}_{speaker}" if speaker.startswith("User") else f"{short}{speaker}"


def session_participants(session: str) -> list[str]:
    """``Session01`` -> ``["Sess01F", "Sess01M"]``."""
    return [f"Sess{session[len('Session'):]}{g}" for g in ("F", "M")]
