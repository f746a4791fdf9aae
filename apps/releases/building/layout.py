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
        # Each text's licence and origin: a few names in a whole release.
        "licence",
        "origin",
        "prompt_licence",
        "prompt_origin",
        "chosen_licence",
        "chosen_origin",
        "rejected_licence",
        "rejected_origin",
        "response_licences.list.element",
        "response_origins.list.element",
    ],
    "write_statistics": True,
    "data_page_size": 1 << 20,
    "store_schema": True,
}
PRIVATE_DIR = ".hearth"
# The Dolly JSONL of each split's sft rows.
DOLLY_PATHS = {split: f"dolly/{split}.jsonl" for split in SPLITS}
# The keys of a Dolly JSONL line, each with the sft column it holds: Dolly's four fields, then
# the row's language (which apps.collection.importing reads back) and the licences and
# origins of the answer and of its prompt, as in ``sft``.
DOLLY_KEYS = (
    ("instruction", "instruction"),
    ("context", "context"),
    ("response", "response"),
    ("category", "category"),
    ("language", "language"),
    ("licence", "licence"),
    ("origin", "origin"),
    ("prompt_licence", "prompt_licence"),
    ("prompt_origin", "prompt_origin"),
)


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
    """The column schema of each config, as worker/data.py documents them (``sft``'s
    ``prompt_id``, the answer's prompt, joins its rows to the other configs' by id; readers
    read columns by name, so it is simply one more).

    Every text a row holds has its licence and origin beside it, at the end of the row
    (data QA: a release mixing licences did not say which rows were under which): the name
    of the licence it was written or imported under, as the card's licence list gives it,
    and ``hearth`` or the name of the data set it was imported from. A prompt's and its
    answers' can differ (volunteers answer imported prompts under the site's licence), so
    ``sft`` names both, ``preferences`` the prompt's and each answer's of the pair, and
    ``rankings`` the prompt's and, in lists in the order of ``responses``, each answer's."""
    import pyarrow as pa

    text = pa.string()
    prompt_licence = [("prompt_licence", text), ("prompt_origin", text)]
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
                ("licence", text),
                ("origin", text),
                *prompt_licence,
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
                *prompt_licence,
                ("chosen_licence", text),
                ("chosen_origin", text),
                ("rejected_licence", text),
                ("rejected_origin", text),
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
                *prompt_licence,
                ("response_licences", pa.list_(text)),
                ("response_origins", pa.list_(text)),
            ]
        ),
        "prompts": pa.schema(
            [
                ("id", pa.int64()),
                ("instruction", text),
                ("context", text),
                ("category", text),
                ("language", text),
                ("licence", text),
                ("origin", text),
            ]
        ),
    }


def releases_root() -> Path:
    return Path(settings.DATA_DIR) / "releases"


def release_folder(version: str) -> Path:
    """Where a release's files are once it is ready (nothing there before)."""
    return releases_root() / version
