"""JSON written piece by piece, for downloads too big to build in memory at once (a power
user's data export: 12.9 MB for 13,700 answers).

``json_pieces`` writes the same text as ``encoder.encode`` would for the whole object, but
reads the lists that are iterators one item at a time, so a response can send rows as a
database cursor yields them. ``json_chunks`` gathers the pieces into chunks of a useful size
for the server to write.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

# Bytes a chunk holds at least (the last excepted) before it is sent.
CHUNK_BYTES = 64 * 1024


def json_pieces(data: Mapping[str, Any], encoder: json.JSONEncoder) -> Iterator[str]:
    """``encoder.encode(data)``, in pieces that join to the same text, where each value of
    ``data`` that is an iterator is written as a JSON array, item by item as it yields them.
    ``encoder`` may indent by a number of spaces or not at all (not by a string)."""
    indent = encoder.indent
    if indent is not None and not isinstance(indent, int):
        raise ValueError("json_pieces indents by a number of spaces")

    def newline(depth: int) -> str:
        return "" if indent is None else "\n" + " " * (indent * depth)

    def nested(value: Any, depth: int) -> str:
        # Every newline in encoded JSON is the encoder's own: strings escape theirs.
        return encoder.encode(value).replace("\n", newline(depth))

    if not data:
        yield "{}"
        return
    yield "{"
    for index, (key, value) in enumerate(data.items()):
        yield (encoder.item_separator if index else "") + newline(1)
        yield encoder.encode(key) + encoder.key_separator
        if not isinstance(value, Iterator):
            yield nested(value, 1)
            continue
        empty = True
        for item in value:
            yield ("[" if empty else encoder.item_separator) + newline(2) + nested(item, 2)
            empty = False
        yield "[]" if empty else newline(1) + "]"
    yield newline(0) + "}"


def json_chunks(pieces: Iterable[str], size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """``pieces`` in UTF-8, gathered into chunks of at least ``size`` bytes (the last may
    hold less): a server writes each chunk it is given, and a row is a few hundred bytes."""
    gathered: list[bytes] = []
    held = 0
    for piece in pieces:
        encoded = piece.encode()
        gathered.append(encoded)
        held += len(encoded)
        if held >= size:
            yield b"".join(gathered)
            gathered, held = [], 0
    if gathered:
        yield b"".join(gathered)
