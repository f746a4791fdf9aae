"""Links to the Hugging Face Hub's web pages, on HF_ENDPOINT's Hub when set (a mirror, a
private Hub), read at call time."""

from __future__ import annotations

import os

HUB = "https://huggingface.co"


def hub_page(path: str) -> str:
    """The Hub's page at ``path`` (``datasets/ns/repo/tree/v3``, ``ns/model/tree/run-7``)."""
    endpoint = (os.environ.get("HF_ENDPOINT") or HUB).rstrip("/")
    return f"{endpoint}/{path.lstrip('/')}"
