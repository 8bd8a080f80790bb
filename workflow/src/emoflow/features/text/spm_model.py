"""A serialised SentencePiece model read without the protobuf package.

Only the parts the tokenizer conversion needs: the pieces (string, score, type), the model type and
the normaliser settings of the ``ModelProto``.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

# SentencePiece piece types.
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
#: Errors of a corrupt model.
PARSE_ERRORS = (ValueError, IndexError, UnicodeDecodeError, struct.error)


@dataclass
class SpmModel:
    """The parts of a SentencePiece ``ModelProto`` that the conversion needs."""

    pieces: list[tuple[str, float, int]] = field(default_factory=list)  # (piece, score, type)
    model_type: int = 1  # 1 unigram, 2 bpe, 3 word, 4 char
    precompiled_charsmap: bytes = b""
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True

    @property
    def unk_id(self) -> int:
        return next((i for i, (_, _, t) in enumerate(self.pieces) if t == UNKNOWN), 0)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        out |= (b & 0x7F) << shift
        if not b & 0x80:
            return out, pos
        shift += 7


def _fields(buf: bytes):
    """Yield (field number, wire type, value) of a protobuf message (value: int or bytes)."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = _varint(buf, pos)
        elif wire == 1:
            val, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            val, pos = buf[pos : pos + n], pos + n
        elif wire == 5:
            val, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield num, wire, val



def _piece(buf: bytes) -> tuple[str, float, int]:
    piece, score, ptype = "", 0.0, NORMAL
    for n, w, v in _fields(buf):
        if n == 1:
            piece = v.decode("utf-8")
        elif n == 2 and w == 5:
            score = struct.unpack("<f", v)[0]
        elif n == 3:
            ptype = v
    return piece, score, ptype


def _read_normalizer(model: SpmModel, buf: bytes) -> None:
    for n, _, v in _fields(buf):
        if n == 2:
            model.precompiled_charsmap = bytes(v)
        elif n == 3:
            model.add_dummy_prefix = bool(v)
        elif n == 4:
            model.remove_extra_whitespaces = bool(v)


def parse_spm_model(data: bytes) -> SpmModel:
    """Read pieces, model type and normaliser settings from a serialised SentencePiece model."""
    model = SpmModel()
    for num, wire, val in _fields(data):
        if num == 1 and wire == 2:  # SentencePiece piece
            model.pieces.append(_piece(val))
        elif num == 2 and wire == 2:  # TrainerSpec
            for n, _, v in _fields(val):
                if n == 3:
                    model.model_type = v
        elif num == 3 and wire == 2:  # NormalizerSpec
            _read_normalizer(model, val)
    if not model.pieces:
        raise ValueError("no pieces: not a SentencePiece model")
    return model
