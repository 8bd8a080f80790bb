"""Synthetic KEMDy19 stand-in: the real on-disk layout, driven by a known latent cue model.

Modules, by what they render:

- ``cues``: the latent cue model (label prior, P(cue | label) per modality), the raters and their ties;
- ``plan``: dialogues, turns, speakers and times of a session;
- ``speech``: per-speaker voices and the waveform of each utterance (from its audio cue);
- ``text``: the transcript of each utterance (from its text cue);
- ``bio``: ECG, EDA and TEMP of each participant (from the bio cues of their own utterances);
- ``quirks``: the quirks of real copies, in small doses;
- ``model``: the in-memory dataset (sessions -> dialogues -> utterances, participants, signals, tags);
- ``layout_kemdy19``: writing the dataset in the KEMDy19 layout;
- ``truth``: the ``_truth/`` side folder (labels, cues, the cue model, quirk records) and the manifest;
- ``build``: ``generate``, which runs them in order, one session at a time.

The truth goes to ``root/_truth/``; a reader of the dataset never needs it.
"""

from ..constants import EMOTIONS
from .bio import BIO_CUES, BIO_RESPONSE, E4_FS, ECG_STEP
from .build import generate
from .cues import CIRCUMPLEX, PRIOR, build_cue_model, confusion_matrix, rate, tie_valid, total_string
from .layout_kemdy19 import HEADER_ONLY_BIO, UNUSED_FIELD_COLUMNS
from .quirks import UNUSED_FIELD_TEXTS
from .rng import sample_rows
from .settings import DEFAULTS, VERSION, resolve_config
from .speech import AUDIO_CUES, AUDIO_SR, Voice, make_voice, render_audio
from .text import make_text

__all__ = [
    "AUDIO_CUES", "AUDIO_SR", "BIO_CUES", "BIO_RESPONSE", "CIRCUMPLEX", "DEFAULTS", "E4_FS", "ECG_STEP", "EMOTIONS",
    "HEADER_ONLY_BIO", "PRIOR", "UNUSED_FIELD_COLUMNS", "UNUSED_FIELD_TEXTS", "VERSION", "Voice",
    "build_cue_model", "confusion_matrix", "generate", "make_text", "make_voice", "rate", "render_audio",
    "resolve_config", "sample_rows", "tie_valid", "total_string",
]
