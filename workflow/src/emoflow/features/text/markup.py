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

_TAG = re.compile(r"(?<![A-Za-z])([" + "".join(TAG_TOKENS) + r"])/")
_ALTERNATIVE = re.compile(r"\(([^()]*)\)\s*/\s*\(([^()]*)\)")


def clean_transcript(text, policy: str = "strip") -> str:
    """Apply the markup policy (see the module docstring) to one transcript."""
    if policy not in TAG_POLICIES:
        raise ValueError(f"unknown tag policy {policy!r}; expected one of {TAG_POLICIES}")
    if text is None or (isinstance(text, float) and np.isnan(text)):
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

