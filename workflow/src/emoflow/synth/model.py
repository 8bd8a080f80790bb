"""The in-memory synthetic dataset that the renderers fill and a layout writer consumes.

``Dataset`` -> ``Session`` -> ``Dialogue`` -> ``Utterance``; each session also holds its two
``Participant`` objects (voice, physiology baselines, rendered signals with their segment tags) and
its ``SessionQuirks``. Sessions are built, rendered and written one at a time (``build.generate``);
after the writer has consumed a session, ``Session.release`` drops the rendered audio and signals, so
only the light utterance data (ids, times, labels, cues, ratings, text) stays for the truth folder.

Layout-free by design: participant keys, dialogue names and segment ids come from the plan, the file
names, column orders and number formats from the layout writer (``layout_kemdy19``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MODALITIES = ("audio", "text", "bio")


@dataclass
class Rating:
    """Ten raters' judgements of one utterance from one perspective (the speaker's or the listener's)."""

    votes: np.ndarray  # (10,) emotion indices in EMOTIONS order
    valence: np.ndarray  # (10,) integers 1-5
    arousal: np.ndarray  # (10,) integers 1-5
    total: str  # the majority label(s), ties ';'-joined in the dataset's order


@dataclass
class Utterance:
    numb: int  # 1-based row number in the session (continuous over its dialogues)
    segment_id: str
    dialogue: str
    block: str  # 'script' | 'impro': the device recording the utterance falls in
    speaker: str  # participant key
    nnn: int  # the speaker's utterance counter inside the dialogue, from 1
    start: float  # seconds in the dialogue recording (the wav times of the annotation)
    end: float
    dialogue_t0: float  # session seconds at the dialogue recording's time 0
    label: str = ""  # the speaker's own (true) emotion
    listener_label: str = ""  # the other participant's perspective
    cues: dict[str, str] = field(default_factory=dict)  # modality -> cue emotion
    own_rating: Rating | None = None
    listener_rating: Rating | None = None
    text: str | None = None  # transcript (set by text rendering, or first by a quirk)
    audio: np.ndarray | None = None  # int16 16 kHz waveform (released after writing)

    @property
    def abs_start(self) -> float:
        return self.dialogue_t0 + self.start

    @property
    def abs_end(self) -> float:
        return self.dialogue_t0 + self.end

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class Dialogue:
    name: str  # e.g. 'script01', 'impro02'
    block: str
    t0: float  # session seconds at the recording's time 0
    utterances: list[Utterance] = field(default_factory=list)


@dataclass
class Signal:
    """One participant's recording of one bio signal over the session (all device recordings joined)."""

    name: str  # 'ECG' | 'EDA' | 'TEMP'
    t: np.ndarray  # session seconds of each sample (the clock column is the session's clock0 + t)
    elapsed: np.ndarray  # the device's elapsed-seconds column (restarts with each recording)
    values: np.ndarray  # quantised integers: ECG in steps of bio.ECG_STEP, EDA in 1e-6 uS, TEMP in 0.01 degC
    tags: np.ndarray  # per sample: index into Session.utterances of the segment it is tagged with, -1 none
    rate: float = 4.0  # samples per second


@dataclass
class Participant:
    key: str  # 'F' / 'M' in KEMDy19 (one of each per session)
    gender: str
    voice: object  # speech.Voice
    physiology: object  # bio.Physiology
    signals: dict[str, Signal] = field(default_factory=dict)
    beats: np.ndarray | None = None  # R-peak times (session seconds) behind the ECG (an IBI source)


@dataclass
class MissingE4:
    """A run of utterances for which one participant's E4 (EDA, TEMP) recorded nothing."""

    participant: str
    indices: list[int]  # positions in Session.utterances
    t0: float  # session seconds, the rows in [t0, t1) are absent
    t1: float


@dataclass
class Dropout:
    """An E4 dropout: the participant's EDA and TEMP have no rows for ``gap`` seconds from ``t_gap``
    (clock and elapsed jump), and the tags of the rest of the dialogue are placed by counting samples."""

    participant: str
    dialogue: str
    block: str
    t_gap: float  # session seconds of the first missing sample
    gap: float  # seconds (a multiple of the 0.25 s sample step)


@dataclass
class TagStop:
    """The participant's EDA/TEMP tags stop at utterance ``first`` of a dialogue; the signal continues."""

    participant: str
    dialogue: str
    first: int  # position in Session.utterances of the first untagged utterance


@dataclass
class SessionQuirks:
    tag_only: int | None = None  # utterance whose transcript is a lone tag
    missing_e4: MissingE4 | None = None
    header_only: set[tuple[str, str]] = field(default_factory=set)  # (participant, signal) files
    id_mismatch: int | None = None  # utterance whose id the F file writes with the other speaker's letter
    dropouts: list[Dropout] = field(default_factory=list)
    tag_stops: list[TagStop] = field(default_factory=list)
    e4_extend: dict[tuple[str, str], float] = field(default_factory=dict)  # (participant, block) -> extra s


@dataclass
class Session:
    number: int
    seed: int
    dialogues: list[Dialogue]
    participants: dict[str, Participant] = field(default_factory=dict)
    clock0_ms: int = 0  # wall clock (ms since midnight) at session time 0
    quirks: SessionQuirks = field(default_factory=SessionQuirks)

    @property
    def name(self) -> str:
        return f"Session{self.number:02d}"

    @property
    def short(self) -> str:
        return f"Sess{self.number:02d}"

    @property
    def utterances(self) -> list[Utterance]:
        return [u for d in self.dialogues for u in d.utterances]

    def release(self) -> None:
        """Drop the rendered audio and signals (kept: everything the truth folder needs)."""
        for u in self.utterances:
            u.audio = None
        for p in self.participants.values():
            p.signals = {}
            p.beats = None


@dataclass
class Dataset:
    config: dict  # the resolved ``synthetic`` section
    cue_model: dict  # as written to _truth/cue_model.json
    dialogues: list[str]
    sessions: list[Session] = field(default_factory=list)
    records: dict[str, list] = field(default_factory=dict)  # quirk name -> records (manifest, _truth/)

    @property
    def utterances(self) -> list[tuple[Session, Utterance]]:
        return [(s, u) for s in self.sessions for u in s.utterances]
