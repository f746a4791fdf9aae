"""Dolly-format lines for the import tests."""

from __future__ import annotations

import json
from typing import Any


def record(n: int, **changes: Any) -> dict[str, Any]:
    """A valid Dolly record, different for each ``n``; ``changes`` replace its fields."""
    return {
        "instruction": f"Give one tip for keeping basil alive indoors, number {n}.",
        "context": "",
        "response": f"Water it from below and give it the sunniest window ({n}).",
        "category": "general_qa",
        **changes,
    }


def jsonl(lines: list[Any]) -> bytes:
    """One line each: a record as JSON, a string as it is."""
    return "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines).encode()
