"""Where releases live, what their files hold, and the two hashes every row depends on: the
split a prompt gets when first released and the ranker's pseudonym."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    import pyarrow as pa

CONFIGS = ("sft", "preferences", "rankings", "prompts")
SPLITS = ("train", "test")
# Rows per Parquet row group: fixed, so the files never depend on how rows were fetched.
ROW_GROUP_ROWS = 10_000
# Pinned so that a pyarrow default changing can never change a release's bytes silently.
# zstd level 1 (Arrow's default) and dictionaries only for the columns with few distinct
# values: on the release benchmark, level 3 and dictionaries on every column (the texts too,
# which are nearly all distinct) took about 10% more of the build's CPU and gave larger files.
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 1,
    "version": "2.6",
    "data_page_version": "1.0",
    "use_dictionary": [
        "category",
        "language",
        "source",
        "ranker",
        "chosen_rank",
        "rejected_rank",
        "rankers",
        "margin",
        "agreement",
    ],
    "write_statistics": True,
    "data_page_size": 1 << 20,
    "store_schema": True,
}
PRIVATE_DIR = ".hearth"
DOLLY_PATH = "dolly/sft.jsonl"


def test_threshold(test_share: float) -> int:
    return int(test_share * 2**64)


def hash_position(prompt_id: int) -> int:
    digest = hashlib.sha256(f"hearth-split:{prompt_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def prompt_split(prompt_id: int, test_share: float) -> str:
    """``"test"`` or ``"train"``, from a hash of the prompt id and ``test_share``: the split a
    prompt gets in the first release that includes it. Later releases keep that split
    (``PromptSplit``, see ``splits``) whatever their own share, so a prompt never moves
    between splits across releases. At a larger share the test prompts are a superset."""
    return "test" if hash_position(prompt_id) < test_threshold(test_share) else "train"


def pseudonym(user_id: int) -> str:
    """A user's stable pseudonymous id in releases: HMAC-SHA256 of the id under
    HEARTH_PSEUDONYM_SECRET, 16 hex digits. Reveals nothing without the secret."""
    key = settings.HEARTH_PSEUDONYM_SECRET.encode()
    return hmac.new(key, f"user:{user_id}".encode(), hashlib.sha256).hexdigest()[:16]


def release_schemas() -> dict[str, pa.Schema]:
    """The column schema of each config, exactly as worker/data.py documents them (``sft``'s
    ``prompt_id``, the answer's prompt, joins its rows to the other configs' by id; readers
    read columns by name, so it is simply one more)."""
    import pyarrow as pa

    text = pa.string()
    return {
        "sft": pa.schema(
            [
                ("id", pa.int64()),
                ("prompt_id", pa.int64()),
                ("instruction", text),
                ("context", text),
                ("response", text),
                ("category", text),
                ("language", text),
                ("source", text),
            ]
        ),
        "preferences": pa.schema(
            [
                ("prompt_id", pa.int64()),
                ("instruction", text),
                ("context", text),
                ("chosen", text),
                ("rejected", text),
                ("chosen_rank", pa.int64()),
                ("rejected_rank", pa.int64()),
                ("margin", pa.float64()),
                ("rankers", pa.int64()),
                ("agreement", pa.float64()),
            ]
        ),
        "rankings": pa.schema(
            [
                ("prompt_id", pa.int64()),
                ("instruction", text),
                ("context", text),
                ("responses", pa.list_(text)),
                ("ranker", text),
                ("order", pa.list_(pa.int64())),
            ]
        ),
        "prompts": pa.schema(
            [
                ("id", pa.int64()),
                ("instruction", text),
                ("context", text),
                ("category", text),
                ("language", text),
            ]
        ),
    }


def releases_root() -> Path:
    return Path(settings.DATA_DIR) / "releases"


def release_folder(version: str) -> Path:
    """Where a release's files are once it is ready (nothing there before)."""
    return releases_root() / version
