"""Names shared by every stage: emotions, settings, paper figures."""

# Canonical class order used for every probability column and confusion matrix.
EMOTIONS = ["neutral", "happy", "surprise", "angry", "sad", "disgust", "fear"]

# The one emotion -> class index map (position in EMOTIONS).
CLASS_INDEX = {e: i for i, e in enumerate(EMOTIONS)}

# Order in which KEMDy19 lists tied labels in a `;`-joined Total Evaluation cell.
KEMDY19_TIE_ORDER = ["neutral", "happy", "sad", "angry", "fear", "disgust", "surprise"]

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

SPLITS = ["train", "val", "test"]

# Synthetic dataset sizes. ``n_sessions`` and ``dialogues`` are read by the workflow at parse time;
# ``utterances_per_dialogue`` is the (min, max) number of utterances (both speakers) per dialogue;
# ``duration_s`` is the (median, min, max) utterance duration in seconds (log-normal, clipped).
SYNTH_SIZES = {
    "tiny": {
        "n_sessions": 3,
        "dialogues": ["script01", "impro01"],
        "utterances_per_dialogue": (10, 14),
        "duration_s": (2.0, 1.0, 3.5),
    },
    "small": {
        "n_sessions": 6,
        "dialogues": ["script01", "script02", "impro01", "impro02"],
        "utterances_per_dialogue": (28, 36),
        "duration_s": (2.5, 1.0, 4.0),
    },
    "full": {
        "n_sessions": 20,
        "dialogues": [f"script{i:02d}" for i in range(1, 7)] + [f"impro{i:02d}" for i in range(1, 5)],
        "utterances_per_dialogue": (30, 72),
        "duration_s": (3.5, 0.8, 10.0),
    },
}

BIO_SIGNALS = {"ecg": "ECG", "eda": "EDA", "temp": "TEMP"}


# KEMDy19 names a session's folders ``SessionSS`` and its two participant files ``SessSSF``/``SessSSM``.
def participant_session(participant: str) -> str:
    """``Sess01F`` -> ``Session01``."""
    return f"Session{participant[len('Sess'):-1]}"


def session_participants(session: str) -> list[str]:
    """``Session01`` -> ``["Sess01F", "Sess01M"]``."""
    return [f"Sess{session[len('Session'):]}{g}" for g in ("F", "M")]
