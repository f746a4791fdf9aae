"""The dataset card (README.md) of a release: YAML front matter the Hub and ``datasets`` read,
then a description people read.

``render_card`` is a pure function of what it is given: no clock, no database. The same
release gives the same bytes, so the card never changes the content hash of a rebuild.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import yaml
from django.conf import settings

from apps.collection.models import Category
from apps.releases.models import FEW_TEST_PROMPTS, ReleaseFilter

CONFIG_ORDER = ("sft", "preferences", "rankings", "prompts")
SPLIT_ORDER = ("train", "test")

# What each config holds; the columns are those worker/data.py documents.
CONFIG_DESCRIPTIONS = {
    "sft": (
        "One row per accepted answer: `id` (the answer's), `prompt_id` (its prompt's: `id` in "
        "`prompts`, `prompt_id` in `preferences` and `rankings`), `instruction`, `context`, "
        "`response`, `category`, `language`, `source` (`human` or `model`), `licence` and "
        "`origin` (the answer's: see Licence), `prompt_licence` and `prompt_origin` (those of "
        "the instruction and context)."
    ),
    "preferences": (
        "One row per pair of a prompt's consensus ranking that most of its rankers agreed "
        "with, or tied on: `prompt_id`, `instruction`, `context`, `chosen`, `rejected`, "
        "`chosen_rank`, `rejected_rank` (places in the consensus order, 1 is best; `chosen` "
        "is always the better placed), `margin` (share of rankers who preferred `chosen`: "
        "from 0.5 to 1), `rankers`, `agreement` (Kendall's W), then the licence and origin "
        "of the prompt and of each answer (`prompt_licence`, `prompt_origin`, "
        "`chosen_licence`, `chosen_origin`, `rejected_licence`, `rejected_origin`). A "
        "`margin` of exactly 0.5 is a tie: as many rankers put `rejected` first, and the "
        "consensus' tie-break chose; keep `margin > 0.5` for the pairs a majority agreed on. "
        "The consensus (ranked pairs) can order a pair of a cycle against most of its "
        "rankers; such a pair is left out, so a prompt may have fewer than K(K-1)/2 pairs, and "
        "its answers' places still come from the consensus order."
    ),
    "rankings": (
        "One row per individual ranking: `prompt_id`, `instruction`, `context`, `responses` "
        "(the answers as shown, in id order), `ranker` (a pseudonymous id), `order` (indices "
        "into `responses`, best first), `prompt_licence`, `prompt_origin`, and "
        "`response_licences` and `response_origins` (one per answer, in the order of "
        "`responses`)."
    ),
    "prompts": (
        "Every accepted prompt, answered or not: `id`, `instruction`, `context`, `category`, "
        "`language`, `licence`, `origin`."
    ),
}

# Licence ids the Hub knows; anything else is "other" with its name and link.
HUB_LICENCES = frozenset(
    {
        "apache-2.0",
        "cc-by-2.0",
        "cc-by-3.0",
        "cc-by-4.0",
        "cc-by-nc-3.0",
        "cc-by-nc-4.0",
        "cc-by-nc-nd-4.0",
        "cc-by-nc-sa-3.0",
        "cc-by-nc-sa-4.0",
        "cc-by-nd-4.0",
        "cc-by-sa-3.0",
        "cc-by-sa-4.0",
        "cc0-1.0",
        "cdla-permissive-2.0",
        "cdla-sharing-1.0",
        "gpl-3.0",
        "mit",
        "odbl",
        "odc-by",
        "pddl",
    }
)

_QA = {Category.OPEN_QA, Category.GENERAL_QA, Category.CLOSED_QA}


def licence_slug(name: str) -> str:
    """A licence name as an id: "CC BY-SA 3.0" -> "cc-by-sa-3.0"."""
    return re.sub(r"[^a-z0-9.]+", "-", name.strip().lower()).strip("-")


def licence_id(name: str) -> str:
    """A licence name as a Hub licence id: "CC BY-SA 3.0" -> "cc-by-sa-3.0"; "other" when
    the Hub does not know it."""
    slug = licence_slug(name)
    return slug if slug in HUB_LICENCES else "other"


_SIZE_BUCKETS = (
    (10**3, "n<1K"),
    (10**4, "1K<n<10K"),
    (10**5, "10K<n<100K"),
    (10**6, "100K<n<1M"),
    (10**7, "1M<n<10M"),
    (10**8, "10M<n<100M"),
    (10**9, "100M<n<1B"),
    (10**10, "1B<n<10B"),
    (10**11, "10B<n<100B"),
    (10**12, "100B<n<1T"),
)


def size_category(rows: int) -> str:
    """The Hub's size bucket for a number of rows."""
    for bound, label in _SIZE_BUCKETS:
        if rows < bound:
            return label
    return "n>1T"


def task_categories(categories: list[str]) -> list[str]:
    tasks = {"text-generation"}
    present = set(categories)
    if present & {c.value for c in _QA}:
        tasks.add("question-answering")
    if Category.SUMMARIZATION.value in present:
        tasks.add("summarization")
    if Category.CLASSIFICATION.value in present:
        tasks.add("text-classification")
    return sorted(tasks)


def licences_of(counts: dict[str, Any]) -> list[str]:
    """Every licence a text of the release is under: its answers' first, most rows first
    (``counts["licences"]``), then those only its prompts are under, most prompts first
    (``counts["prompt_licences"]``); the site's own when the counts do not say (releases
    built before they did, or a release without answers)."""
    names = [name for name, _rows in _by_rows(counts)]
    names += [name for name, _rows in _by_rows(counts, "prompt_licences") if name not in names]
    return names or [settings.HEARTH_LICENCE_NAME]


def _by_rows(counts: dict[str, Any], key: str = "licences") -> list[tuple[str, int]]:
    # Sorted here: a JSON column (jsonb) does not keep the order the build wrote them in.
    found: dict[str, int] = counts.get(key) or {}
    return sorted(found.items(), key=lambda item: (-item[1], item[0]))


# Where a card whose licences the Hub cannot name in its own ids sends a reader: its own
# licence section, which lists each licence and the columns that say which rows it covers.
LICENCE_SECTION_LINK = "README.md#licence"


def licence_front(licences: list[str]) -> dict[str, Any]:
    """The front matter's licence keys. The Hub's id (``license``) when every licence has
    one: a list of them when there are several. Otherwise ``other``, with ``license_name`` an
    id made of the licences' names (the Hub asks for one like ``my-license-1.0``) and
    ``license_link``: the site's licence page for the site's licence alone, else the card's
    licence section."""
    ids = list(dict.fromkeys(licence_id(name) for name in licences))
    if "other" not in ids:
        return {"license": ids[0] if len(ids) == 1 else ids}
    slugs = "-".join(dict.fromkeys(licence_slug(name) for name in licences))
    own = licences == [settings.HEARTH_LICENCE_NAME]
    return {
        "license": "other",
        "license_name": slugs if len(licences) == 1 else f"mixed-{slugs}",
        "license_link": settings.HEARTH_LICENCE_URL if own else LICENCE_SECTION_LINK,
    }


# The Hub's dtype of each Arrow type in a release's schemas (``datasets.Value``).
_DTYPES = {"int64": "int64", "double": "float64", "string": "string"}


def features(schema: Any) -> list[dict[str, str]]:
    """A config's columns as ``dataset_info`` writes them (``datasets.Features``' YAML):
    ``{name, dtype}``, or ``{name, list}`` for a list column."""
    import pyarrow as pa

    def dtype(type: Any) -> str:
        try:
            return _DTYPES[str(type)]
        except KeyError:
            raise ValueError(f"no dataset_info dtype for {type}") from None

    return [
        {"name": field.name, "list": dtype(field.type.value_type)}
        if pa.types.is_list(field.type)
        else {"name": field.name, "dtype": dtype(field.type)}
        for field in schema
    ]


def dataset_info(counts: dict[str, Any]) -> list[dict[str, Any]]:
    """``dataset_info``, one entry per config ``configs`` lists, as the Hub's cards write it:
    its ``features`` (the Parquet schema, ``layout.release_schemas``) and, per split listed,
    ``num_examples`` (its rows; ``datasets`` checks them when it loads) and ``num_bytes`` (its
    size in memory as one Arrow table), with ``download_size`` (its listed Parquet files)
    and ``dataset_size`` (the splits' ``num_bytes``). Sizes are left out for counts that
    lack them (a build before they were counted)."""
    from apps.releases.building.layout import release_schemas

    schemas = release_schemas()
    arrow: dict[str, dict[str, int]] = counts.get("bytes") or {}
    files: dict[str, dict[str, int]] = counts.get("file_bytes") or {}
    rows: dict[str, dict[str, int]] = counts.get("rows", {})
    entries = []
    for config in loadable_configs(counts):
        splits = _loadable_splits(counts, config)
        sized = all(split in arrow.get(config, {}) for split in splits)
        entry: dict[str, Any] = {
            "config_name": config,
            "features": features(schemas[config]),
            "splits": [
                {
                    "name": split,
                    **({"num_bytes": int(arrow[config][split])} if sized else {}),
                    "num_examples": int(rows[config][split]),
                }
                for split in splits
            ],
        }
        if sized and all(split in files.get(config, {}) for split in splits):
            entry["download_size"] = sum(int(files[config][split]) for split in splits)
        if sized:
            entry["dataset_size"] = sum(int(arrow[config][split]) for split in splits)
        entries.append(entry)
    return entries


def front_matter(
    *, version: str, counts: dict[str, Any], name: str | None = None
) -> dict[str, Any]:
    """The card's YAML header: licence, languages, tasks, size, ``dataset_info`` (each
    config's features and split sizes) and one ``configs`` entry per config with rows,
    listing its splits with rows, so ``datasets.load_dataset(<folder or repo>, "<config>")``
    loads every config and split listed (it refuses an empty one)."""
    name = name or settings.HEARTH_DATASET_NAME
    # Imported rows keep their source's licence: a release may be under several.
    front = licence_front(licences_of(counts))
    languages = sorted({tag.split("-")[0].lower() for tag in counts.get("languages", {})})
    if languages:
        front["language"] = languages
    front["task_categories"] = task_categories(list(counts.get("categories", {})))
    front["pretty_name"] = f"{name} {version}"
    sft_rows = sum(counts.get("rows", {}).get("sft", {}).values())
    front["size_categories"] = [size_category(sft_rows)]
    front["tags"] = ["instruction-tuning", "human-feedback", "rlhf"]
    front["dataset_info"] = dataset_info(counts)
    front["configs"] = [
        {
            "config_name": config,
            "data_files": [
                {"split": split, "path": f"data/{config}/{split}-*.parquet"}
                for split in _loadable_splits(counts, config)
            ],
            **({"default": True} if config == "sft" else {}),
        }
        for config in loadable_configs(counts)
    ]
    return front


def _loadable_splits(counts: dict[str, Any], config: str) -> list[str]:
    """The splits of a config that have rows: ``datasets`` refuses to load an empty split
    ("Instruction "train" corresponds to no data!"). Their empty files are still there, and
    pyarrow or the worker read them as empty."""
    rows = counts.get("rows", {}).get(config, {})
    return [split for split in SPLIT_ORDER if rows.get(split, 0) > 0]


def loadable_configs(counts: dict[str, Any]) -> list[str]:
    """The configs with at least one row, in order: those ``configs:`` lists."""
    return [config for config in CONFIG_ORDER if _loadable_splits(counts, config)]


def _loading_snippet(counts: dict[str, Any]) -> str:
    """``load_dataset`` calls for what this release can load: ``sft`` whole (or the one split
    it has), ``preferences``' train split when it has one."""
    lines = [
        "```python",
        "from datasets import load_dataset",
        "",
        "# The folder this card is in, or the Hub repo the release was published to.",
    ]
    sft_splits = _loadable_splits(counts, "sft")
    if sft_splits == list(SPLIT_ORDER):
        lines.append('sft = load_dataset("path/to/release", "sft")')
    elif sft_splits:
        lines.append(f'sft = load_dataset("path/to/release", "sft", split="{sft_splits[0]}")')
    if "train" in _loadable_splits(counts, "preferences"):
        lines.append('preferences = load_dataset("path/to/release", "preferences", split="train")')
    if len(lines) == 4:
        lines.append("# This release has no rows to load.")
    return "\n".join([*lines, "```"]) + "\n"


def _prompts(n: int) -> str:
    return f"{_number(n)} prompt" if n == 1 else f"{_number(n)} prompts"


# The configs whose test split models are measured on (``prompts`` holds no answer).
_EVALUATED_CONFIGS = ("sft", "preferences", "rankings")


def _small_test_note(counts: dict[str, Any]) -> str | None:
    """A plain warning when the test split of a config with answers holds fewer than
    FEW_TEST_PROMPTS prompts (and some): figures measured on it are noisy. None when none
    does, or for counts without prompts per split (a build before they were counted)."""
    per_split: dict[str, dict[str, int]] = counts.get("split_prompts") or {}
    small = [
        (config, int(per_split[config].get("test", 0)))
        for config in _EVALUATED_CONFIGS
        if config in per_split and 0 < int(per_split[config].get("test", 0)) < FEW_TEST_PROMPTS
    ]
    if not small:
        return None
    listed = "; ".join(f"`{config}`: {_prompts(n)}" for config, n in small)
    return (
        f"**Small test split.** Fewer than {FEW_TEST_PROMPTS} prompts in test ({listed}): "
        "evaluation figures measured on it, such as a test loss or a reward model's accuracy, "
        "depend on which few prompts landed there and will be noisy.\n"
    )


def _agreement_section(agreement: dict[str, Any]) -> str:
    """Kendall's W over exactly the prompts whose preference pairs are in the release: a
    prompt left with one answer (its others hidden) gives no pair, and its stored agreement
    (1.0 for a lone answer) says nothing of its rankers."""
    paired = agreement.get("preference_prompts")
    measured = int(agreement.get("prompts") or 0)
    if paired is None:  # counts from a build before they said which prompts it covers
        if not measured:
            return "No complete prompt with a measured agreement yet.\n"
        return (
            f"Rankers' agreement (Kendall's W, 0 to 1) over {_number(measured)} complete "
            f"prompts: mean {agreement['mean']:.3f}, median {agreement['median']:.3f}.\n"
        )
    paired = int(paired)
    if not paired:
        return "No prompt has preference pairs in this release, so no agreement to report.\n"
    if not measured:
        return (
            f"None of the {_prompts(paired)} whose preference pairs are in this release has a "
            "measured agreement.\n"
        )
    over = (
        f"the {_prompts(paired)}"
        if measured == paired
        else f"{_number(measured)} of the {_prompts(paired)} (the others have none measured)"
    )
    return (
        f"Rankers' agreement (Kendall's W, 0 to 1) over {over} whose preference pairs are in "
        f"this release: mean {agreement['mean']:.3f}, median {agreement['median']:.3f}.\n"
    )


def _md(text: str) -> str:
    """Plain text safe inside Markdown prose and table cells."""
    text = " ".join(text.split())
    return re.sub(r"([\\`*_\[\]<>|~])", r"\\\1", text)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _number(value: int) -> str:
    return f"{value:,}"


def _filter_lines(flt: ReleaseFilter) -> list[str]:
    return [
        f"- languages: {', '.join(flt.languages) if flt.languages else 'all'}",
        f"- categories: {', '.join(flt.categories) if flt.categories else 'all'}",
        "- minimum agreement for preference pairs: "
        + (f"{flt.min_agreement:g}" if flt.min_agreement is not None else "none"),
        f"- model-written answers: {'included' if flt.include_model_written else 'left out'}",
        f"- test share of the prompts released for the first time: {flt.test_share:g}",
    ]


# Where each row names the licence and origin of each text it holds (layout.release_schemas).
_LICENCE_COLUMNS = (
    "Each row names the licence of each text it holds, and where that text came from "
    "(`hearth`, this site, or the name of the data set it was imported from): `licence` and "
    "`origin` in `sft` (the answer's) and in `prompts` (the prompt's); `prompt_licence` and "
    "`prompt_origin` in `sft`, `preferences` and `rankings` (the instruction's and "
    "context's); `chosen_licence`, `chosen_origin`, `rejected_licence` and `rejected_origin` "
    "in `preferences`; `response_licences` and `response_origins` in `rankings`, one per "
    "answer in the order of `responses`. The Dolly JSONL lines carry `licence`, `origin`, "
    "`prompt_licence` and `prompt_origin` as `sft` does. A row is under the licence of every "
    "text it holds: to keep the `sft` rows under one licence, keep those whose `licence` and "
    "`prompt_licence` both name it."
)


def _licence_section(counts: dict[str, Any]) -> str:
    """The site's licence when every prompt and answer is under it; otherwise each licence
    with its answers and prompts, since an import keeps the licence of the data set it came
    from, and the columns that say which rows each covers."""
    own, url = settings.HEARTH_LICENCE_NAME, settings.HEARTH_LICENCE_URL
    answers, prompts = dict(_by_rows(counts)), dict(_by_rows(counts, "prompt_licences"))
    if set(answers) | set(prompts) <= {own}:
        return (
            f"{_md(own)} ({url}). Contributors agreed to publish their work under it. Each "
            "row names it (`licence` and the other licence columns; see the configs).\n"
        )
    lines = "\n".join(
        f"- {_md(name)}: {_number(answers.get(name, 0))} `sft` rows, "
        f"{_number(prompts.get(name, 0))} prompts"
        for name in licences_of(counts)
    )
    return (
        "The texts in this release are under more than one licence, or not under this "
        "site's: each prompt and answer keeps the licence it was written or imported under.\n\n"
        f"{lines}\n\n"
        f"{_LICENCE_COLUMNS}\n\n"
        f"Work written on this site is under {_md(own)} ({url}), which its contributors agreed "
        "to publish it under; imported rows are under the licence of the data set they came "
        "from. Use each row as its licence allows.\n"
    )


# The origin of work written on this site (apps.collection.importing.RESERVED_SOURCE).
OWN_ORIGIN = "hearth"


def _sources_section(counts: dict[str, Any], name: str) -> str | None:
    """Each origin of the release's prompts and answers with its rows and licences (from the
    build's ``counts["sources"]``), so imported data sets are credited as their licences (CC
    BY-SA's attribution) ask. None for a release built before the build counted them."""
    sources: dict[str, dict[str, Any]] = counts.get("sources") or {}
    if not sources:
        return None
    ordered = sorted(sources.items(), key=lambda item: (item[0] != OWN_ORIGIN, item[0]))
    table = _table(
        ["source", "prompts", "answers (sft)", "licence"],
        [
            [
                f"this site ({_md(name)})" if origin == OWN_ORIGIN else _md(origin),
                _number(int(entry.get("prompts", 0))),
                _number(int(entry.get("sft", 0))),
                ", ".join(_md(licence) for licence in entry.get("licences", [])) or "—",
            ]
            for origin, entry in ordered
        ],
    )
    return (
        "Where the prompts and answers in this release came from: written on this site, or "
        "imported from another data set, named here as it was imported. Imported rows keep "
        "their source's licence; credit each source as its licence asks.\n\n" + table + "\n"
    )


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def _changes_section(
    changes: dict[str, dict[str, int]] | None,
    previous_version: str | None,
    latest_version: str | None,
) -> str:
    """Rows added, removed and changed since the latest earlier release cut with the same
    filter (``previous_version``), or why there is no such list."""
    if previous_version is None:
        if latest_version is None:
            return "The first release.\n"
        return (
            f"No earlier release was cut with this release's filter (the latest, "
            f"{latest_version}, let in other rows), so there is no comparable previous "
            "release to list changes against.\n"
        )
    if changes is None:
        return f"Changes since {previous_version} are unknown.\n"
    counted = all("changed" in changes.get(c, {}) for c in CONFIG_ORDER)
    header = ["config", "added", "removed", "changed"]
    rows = [
        [
            f"`{c}`",
            _number(changes.get(c, {}).get("added", 0)),
            _number(changes.get(c, {}).get("removed", 0)),
            _number(changes[c]["changed"]) if counted else "—",
        ]
        for c in CONFIG_ORDER
    ]
    note = (
        "A changed row kept its key (the answer's or prompt's id, the ranking's id, the pair's "
        "two answers) and holds something else: a ranking whose answers were hidden since, a "
        "pair whose margin or agreement moved."
    )
    if not counted:
        note = f"{previous_version} was built before changed rows were counted."
    return (
        f"Rows added, removed and changed since {previous_version}, the latest earlier "
        "release cut with the same filter:\n\n" + _table(header, rows) + f"\n\n{note}\n"
    )


def render_card(
    *,
    version: str,
    release_filter: ReleaseFilter,
    counts: dict[str, Any],
    changes: dict[str, dict[str, int]] | None,
    previous_version: str | None,
    attributed: list[str],
    latest_version: str | None = None,
    finished_at: datetime | None = None,
    data_hash: str = "",
) -> str:
    """The whole README.md of a release. ``previous_version`` is the latest earlier release
    cut with the same filter, which ``changes`` compare with; ``latest_version`` the latest
    earlier one whatever its filter; ``finished_at`` when the build finished (the card gives
    its year and month); ``data_hash`` the hash of its data files (``Release.data_hash``)."""
    name = settings.HEARTH_DATASET_NAME
    licences = licences_of(counts)
    licence_name = "mixed: " + ", ".join(licences) if len(licences) > 1 else licences[0]
    front = yaml.safe_dump(
        front_matter(version=version, counts=counts, name=name),
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
    )
    rows: dict[str, dict[str, int]] = counts.get("rows", {})
    parts = [f"---\n{front}---\n", f"# {_md(name)} {version}\n"]
    parts.append(
        f"Open instruction-tuning data written, reviewed and ranked by volunteers on "
        f"{_md(name)} ({settings.SITE_URL}), in the style of Dolly. Every prompt and answer "
        "here was accepted by reviewers; withdrawn, hidden and rejected work and the work "
        "of banned users are left out.\n"
    )
    released = finished_at.astimezone(UTC) if finished_at is not None else None
    facts = [f"Version {version}"]
    if released is not None:
        facts.append(f"built in {released:%Y-%m} (UTC)")
    if data_hash:
        facts.append(
            f"data hash `{data_hash}` (SHA-256 of the data files' manifest, this card left "
            "out: two versions holding the same rows have the same data hash)"
        )
    parts.append(", ".join(facts) + ".\n")
    loadable = loadable_configs(counts)
    parts.append("## Configs\n")
    parts.append(
        "\n".join(
            f"- `{c}`: {CONFIG_DESCRIPTIONS[c]}"
            + ("" if c in loadable else " No rows in this release.")
            for c in CONFIG_ORDER
        )
        + "\n"
    )
    parts.append(
        "Each config has a `train` and a `test` split, and all rows of a prompt are in the "
        "same split. A prompt keeps the split it got in the first version that included it, "
        "so it never moves between splits from one version to the next; a prompt released "
        "for the first time gets its split from a hash of its id at this version's test "
        "share, and prompts released before keep theirs. The split is per prompt only: "
        "prompts are not grouped, so a translation of a prompt, or a near-duplicate (the same "
        "question in other words), is a prompt of its own and may be in the other split; an "
        "evaluation that must not see a test prompt's variants in train has to group them "
        "itself. A split with no rows has an empty file but is "
        "left out of the `configs` in this card's header, and so is a config with no rows, "
        "as `datasets` cannot load them. `dolly/train.jsonl` and `dolly/test.jsonl` hold the "
        "`sft` rows of each split as JSON lines with Dolly's four fields (instruction, "
        "context, response, category), then the row's `language`, `licence`, `origin`, "
        "`prompt_licence` and `prompt_origin`.\n"
    )
    parts.append("## Licence\n")
    parts.append(_licence_section(counts))
    sources = _sources_section(counts, name)
    if sources is not None:
        parts.append("## Sources\n")
        parts.append(sources)
    parts.append("## Loading it\n")
    parts.append(_loading_snippet(counts))
    parts.append("## Size\n")
    parts.append(
        _table(
            ["config", "train", "test"],
            [
                [f"`{c}`", *(_number(rows.get(c, {}).get(s, 0)) for s in SPLIT_ORDER)]
                for c in CONFIG_ORDER
            ],
        )
        + "\n"
    )
    small = _small_test_note(counts)
    if small is not None:
        parts.append(small)
    for title, key in (("category", "categories"), ("language", "languages")):
        table_rows = [
            [f"`{value}`", _number(n["prompts"]), _number(n["sft"])]
            for value, n in sorted(counts.get(key, {}).items())
        ]
        if table_rows:
            parts.append(f"### By {title}\n")
            parts.append(_table([title, "prompts", "answers (sft)"], table_rows) + "\n")
    parts.append("## Agreement\n")
    parts.append(_agreement_section(counts.get("agreement", {})))
    parts.append("## Contributors\n")
    contributors = int(counts.get("contributors", 0))
    parts.append(
        f"{_number(contributors)} people wrote, answered or ranked the work in this release. "
        "Rankers appear only as pseudonymous ids (a keyed hash of an internal id); no e-mail "
        "address or user name is in the data.\n"
    )
    if attributed:
        parts.append(
            "Contributors who asked to be credited by name: "
            + ", ".join(_md(n) for n in attributed)
            + ".\n"
        )
    parts.append("## Changes\n")
    parts.append(_changes_section(changes, previous_version, latest_version))
    parts.append("## How it was made\n")
    parts.append("\n".join(_filter_lines(release_filter)) + "\n")
    key = re.sub(r"[^a-z0-9]+", "_", f"{name} {version}".lower()).strip("_")
    parts.append("## Citation\n")
    parts.append(
        "```bibtex\n"
        f"@misc{{{key},\n"
        f"  title        = {{{{{name}}}: open instruction-tuning data, release {version}}},\n"
        f"  author       = {{{{{name}}} contributors}},\n"
        f"  howpublished = {{\\url{{{settings.SITE_URL}}}}},\n"
        + (
            f"  year         = {{{released.year}}},\n"
            f"  month        = {_MONTHS[released.month - 1]},\n"
            if released is not None
            else ""
        )
        + f"  note         = {{Version {version}, licence {licence_name}}}\n"
        "}\n```\n"
    )
    return "\n".join(parts)
