"""Transcript markup policy (``text.tag_policy``).

KEMDy19 transcripts carry ETRI (KsponSpeech-style) markup. ``clean_transcript`` handles it:

==========  ====================================  ==================
markup      meaning (KsponSpeech conventions)      ``token`` policy
==========  ====================================  ==================
``b/``      breath                                 ``[BREATH]``
``l/``      laughter                               ``[LAUGH]``
``n/``      noise                                  ``[NOISE]``
``N/``      noise (upper-case variant)             ``[NOISE]``
``u/``      unintelligible speech                  ``[UNCLEAR]``
``o/``      other speaker's voice / overlap        ``[OVERLAP]``
``c/``      tag of undocumented meaning            ``[TAG_C]``
``s/``      tag of undocumented meaning            ``[TAG_S]``
``(A)/(B)`` dual transcription (spelling/sound)    ``A``
``*``       uncertain word mark                    removed
==========  ====================================  ==================

* ``strip`` (default): tags and ``*`` are removed, ``(A)/(B)`` keeps ``A``, the stray ``/`` and ``+``
  marks of fillers and repetitions are removed, spaces are collapsed.
* ``keep``: the transcript is used unchanged.
* ``token``: as ``strip``, but every tag becomes the word token of the table. The locally built
  tokenizer knows these tokens as single pieces; a pretrained tokenizer splits them like any word.

A tag is one of the letters above directly followed by ``/`` and not preceded by a Latin letter, so
Korean fillers such as ``어/`` are not tags (their ``/`` is a filler mark, removed by ``strip``).

Overlapped speech (``text.overlap``)
------------------------------------
About 9% of KEMDy19 transcripts write overlapped speech as ``(X+Y)``, e.g. ``(그리고+아니) 지금 오타
때문에``, ``(그러면 + u/ 찔리시죠?) 그러면``, or mid-utterance ``누가 낳았냐구 (저렇게 이쁜 딸내미 누가
낳았어+뭘 그런 걸 물어봐 내가 낳았겠어)``. Usually X is the other speaker's words that end the previous
utterance and Y the speaker's own. ``apply_overlap`` resolves every such group *before* the tag policy
(so tags inside X or Y, e.g. ``(건데+u/)``, are then handled like any other tag):

* ``own`` (default): keep Y;
* ``both``: keep X and Y (``X Y``);
* ``drop``: remove the bracketed text (never the utterance: what is outside the group stays).

X and Y are free text (spaces allowed) without parentheses; X ends at the first ``+``. A ``(A)/(B)``
dual transcription is never read as an overlap group, even with a ``+`` inside. A transcript whose
parentheses do not balance is left unchanged by this step (``overlap_status`` says ``unbalanced``). A
transcript the step changes has its spaces collapsed; any other is returned byte for byte, under every
tag policy (``keep`` included: the overlap policy is applied with every tag policy).
``clean_text`` is the one entry point of the pipeline (tokenizer training texts and token ids alike).
"""

from __future__ import annotations

import re

import numpy as np

TAG_TOKENS = {
    "b": "[BREATH]",
    "l": "[LAUGH]",
    "n": "[NOISE]",
    "N": "[NOISE]",
    "u": "[UNCLEAR]",
    "o": "[OVERLAP]",
    "c": "[TAG_C]",
    "s": "[TAG_S]",
}
# Distinct word tokens, in table order (they become single pieces of the local tokenizer).
MARKUP_TOKENS = list(dict.fromkeys(TAG_TOKENS.values()))
TAG_POLICIES = ("strip", "keep", "token")
OVERLAP_POLICIES = ("own", "both", "drop")

_TAG = re.compile(r"(?<![A-Za-z])([" + "".join(TAG_TOKENS) + r"])/")
_ALTERNATIVE = re.compile(r"\(([^()]*)\)\s*/\s*\(([^()]*)\)")
# An (A)/(B) pair (left alone), or an overlap group (X+Y): X has no '+', neither has parentheses.
_OVERLAP = re.compile(r"(?P<alt>\([^()]*\)\s*/\s*\([^()]*\))|\((?P<x>[^()+]*)\+(?P<y>[^()]*)\)")


def clean_transcript(text, policy: str = "strip") -> str:
    """Apply the markup policy (see the module docstring) to one transcript."""
    if policy not in TAG_POLICIES:
        raise ValueError(f"unknown tag policy {policy!r}; expected one of {TAG_POLICIES}")
    if _is_missing(text):
        return ""
    text = str(text)
    if policy == "keep":
        return text
    text = _ALTERNATIVE.sub(lambda m: m.group(1), text)
    if policy == "token":
        text = _TAG.sub(lambda m: f" {TAG_TOKENS[m.group(1)]} ", text)
    else:
        text = _TAG.sub(" ", text)
    text = re.sub(r"[*/+]", " ", text)
    return " ".join(text.split())



def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _resolve_group(m: re.Match, overlap: str) -> str:
    if m.group("alt") is not None:
        return m.group("alt")
    x, y = m.group("x").strip(), m.group("y").strip()
    if overlap == "own":
        return y
    if overlap == "both":
        return f"{x} {y}".strip()
    return ""


def _is_missing(text) -> bool:
    return text is None or (isinstance(text, float) and np.isnan(text))


def overlap_status(text) -> str:
    """``"unbalanced"`` (parentheses do not balance and a ``+`` is present: left unchanged), ``"markup"``
    (at least one ``(X+Y)`` group) or ``"none"``."""
    if _is_missing(text) or "+" not in str(text):
        return "none"
    text = str(text)
    if not _balanced(text):
        return "unbalanced"
    return "markup" if any(m.group("alt") is None for m in _OVERLAP.finditer(text)) else "none"


def apply_overlap(text, overlap: str):
    """Resolve every ``(X+Y)`` group of one transcript by the overlap policy (module docstring).

    A missing text (None/NaN), a text without groups and a text with unbalanced parentheses are
    returned unchanged (the same object).
    """
    if overlap not in OVERLAP_POLICIES:
        raise ValueError(f"unknown overlap policy {overlap!r}; expected one of {OVERLAP_POLICIES}")
    if overlap_status(text) != "markup":
        return text
    return " ".join(_OVERLAP.sub(lambda m: _resolve_group(m, overlap), str(text)).split())


def clean_text(text, *, tag_policy: str, overlap: str) -> str:
    """The pipeline's cleaning of one transcript: the overlap policy, then the tag policy."""
    return clean_transcript(apply_overlap(text, overlap), tag_policy)


def overlap_counts(texts, overlap: str) -> dict[str, int]:
    """How many of ``texts`` the overlap policy changes (``changed``) and how many it leaves unchanged
    because their parentheses do not balance (``unbalanced``)."""
    changed = unbalanced = 0
    for t in texts:
        status = overlap_status(t)
        unbalanced += status == "unbalanced"
        changed += status == "markup" and apply_overlap(t, overlap) != t
    return {"changed": changed, "unbalanced": unbalanced}
