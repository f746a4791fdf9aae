"""Releases in, token rows out: everything the trainers know about data.

A release is a folder in the Hugging Face Hub dataset layout, reachable through fsspec::

    README.md                                   dataset card; YAML front matter lists `configs:`
    data/<config>/<split>-00000-of-0000N.parquet

with configs ``sft``, ``preferences``, ``rankings``, ``prompts`` and splits ``train``, ``test``.
A location is ``file:///abs/path``, a plain local path, ``hf://datasets/<repo>@<revision>``
or any other fsspec URL (``s3://…``, ``memory://…``).

Column schemas (all strings are UTF-8, ``context`` is ``""`` when the prompt has none):

Every text's licence and origin (``hearth`` or an imported data set's name) follows the
columns the trainers read, which ignore them: ``licence``/``origin`` (the row's own text),
``prompt_licence``/``prompt_origin``, ``chosen_*``/``rejected_*`` and, in lists,
``response_licences``/``response_origins`` (releases before them have none).

``sft``
    id, prompt_id, instruction, context, response, category, language, source (``human``/``model``),
    licence, origin, prompt_licence, prompt_origin.
``preferences``
    prompt_id, instruction, context, chosen, rejected, chosen_rank, rejected_rank (int, 1 is
    the consensus best), margin (float, the share of the prompt's rankers who put chosen
    above rejected: 0.5 is a tie the consensus broke), rankers (int), agreement (float,
    Kendall's W), prompt_licence, prompt_origin, chosen_licence, chosen_origin,
    rejected_licence, rejected_origin.
    One row per pair of the site's consensus order (ranked pairs, Tideman) that most of its
    rankers agreed with, or that they tied on; a prompt with K ranked responses has up to
    K(K-1)/2 rows. A pair of a cycle that most rankers ordered the other way is not in the
    release (releases before it held it, with a margin below 0.5): a pair without a row is
    never trained on (:func:`groups_from_preferences`). This is the config to train a reward
    model on the site's consensus.
``rankings``
    prompt_id, instruction, context, responses (list<string>, the response set as shown),
    ranker (pseudonymous id), order (list<int>: indices into ``responses``, best first),
    prompt_licence, prompt_origin, response_licences, response_origins (list<string>).
    One row per individual ranking. The trainers merge them by mean position
    (:func:`groups_from_rankings`), a consensus of their own that can differ from the site's
    ranked-pairs one, which ``preferences`` holds.
``prompts``
    id, instruction, context, category, language, licence, origin.

The trainers never see rows: SFT sees :class:`TokenizedExample` packed into rows of
``max_seq_len`` tokens; the reward trainer sees :class:`RankedPrompt` groups (a prompt and its
K responses with consensus ranks), tokenized into :class:`TokenizedGroup`.
"""

from __future__ import annotations

import json
import posixpath
import random
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from worker.config import PromptFormat

IGNORE_INDEX = -100

# Dolly 15k's training prompt (databricks/dolly, training/consts.py), kept verbatim so that
# models trained here answer prompts written for Dolly.
DOLLY_INTRO = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request."
)
DOLLY_INTRO_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides "
    "further context. Write a response that appropriately completes the request."
)
DOLLY_END = "### End"


# ---------------------------------------------------------------------------------------------
# Locations and files
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseRef:
    """Where a release lives and, when the location says so, which Hub repo and revision."""

    location: str
    repo_id: str | None = None
    revision: str | None = None


_HF_DATASET = re.compile(r"^hf://datasets/(?P<repo>[^@]+?)(?:@(?P<rev>[^/]+))?/?$")


def parse_release(location: str) -> ReleaseRef:
    """Split a release location into its parts; ``hf://datasets/org/name@v3`` gives repo and rev."""
    match = _HF_DATASET.match(location)
    if match:
        return ReleaseRef(location, match.group("repo"), match.group("rev"))
    return ReleaseRef(location)


def release_files(location: str, config: str, split: str) -> tuple[Any, list[str]]:
    """Return ``(filesystem, sorted parquet paths)`` for one config and split of a release.

    Raises FileNotFoundError when the release has no shard for that config and split.
    """
    import fsspec

    fs, root = fsspec.core.url_to_fs(location)
    pattern = posixpath.join(root.rstrip("/"), "data", config, f"{split}-*.parquet")
    paths = sorted(fs.glob(pattern))
    if not paths:
        raise FileNotFoundError(f"no {config}/{split} parquet shards under {location}")
    return fs, paths


def read_rows(location: str, config: str, split: str) -> list[dict[str, Any]]:
    """Read every row of a release's config and split into memory (releases are small)."""
    import pyarrow.parquet as pq

    fs, paths = release_files(location, config, split)
    rows: list[dict[str, Any]] = []
    for path in paths:
        with fs.open(path, "rb") as handle:
            rows.extend(pq.read_table(handle).to_pylist())
    return rows


# ---------------------------------------------------------------------------------------------
# Prompt formats
# ---------------------------------------------------------------------------------------------


def dolly_prompt(instruction: str, context: str) -> str:
    """The Dolly prompt up to and including the response header."""
    if context.strip():
        return (
            f"{DOLLY_INTRO_WITH_INPUT}\n\n### Instruction:\n{instruction}\n\n"
            f"Input:\n{context}\n\n### Response:\n"
        )
    return f"{DOLLY_INTRO}\n\n### Instruction:\n{instruction}\n\n### Response:\n"


def _jinja_text(text: str) -> str:
    """``text`` as a Jinja string literal (a JSON string is one, escapes included)."""
    return json.dumps(text)


def dolly_chat_template() -> str:
    """A Jinja chat template (transformers' ``tokenizer.chat_template``) that renders Dolly's
    format as training did, for the output of a run with ``prompt_format`` ``dolly``.

    Messages are one user turn, whose ``content`` is the instruction and whose optional
    ``context`` key is the context (the input), optionally followed by the assistant's
    answer. With ``add_generation_prompt`` a user turn renders as :func:`dolly_prompt` does
    (up to and including ``### Response:``); an answer renders as :func:`format_response`
    does, then the EOS token that training appended. Like training's prompt text, it holds
    no BOS token: tokenize it with the tokenizer's special tokens, as training did. Any other
    conversation raises an error when it is rendered.
    """
    lit = _jinja_text
    response_header = lit("### Response:\n")
    return "".join(
        [
            "{%- if messages | length > 2 or messages[0]['role'] != 'user' or ",
            "(messages | length == 2 and messages[1]['role'] != 'assistant') -%}",
            "{{ raise_exception(",
            lit(
                "Dolly's prompt format has one user turn (its instruction as content, an "
                "optional 'context'), optionally followed by the assistant's answer"
            ),
            ") }}",
            "{%- endif -%}",
            "{%- set user = messages[0] -%}",
            "{%- set context = user['context'] if user['context'] is defined and ",
            "user['context'] else '' -%}",
            "{%- if context | trim -%}",
            "{{ ",
            lit(f"{DOLLY_INTRO_WITH_INPUT}\n\n### Instruction:\n"),
            " + user['content'] + ",
            lit("\n\nInput:\n"),
            " + context + ",
            lit("\n\n"),
            " }}",
            "{%- else -%}",
            "{{ ",
            lit(f"{DOLLY_INTRO}\n\n### Instruction:\n"),
            " + user['content'] + ",
            lit("\n\n"),
            " }}",
            "{%- endif -%}",
            "{%- if messages | length == 2 -%}",
            "{{ ",
            response_header,
            " + messages[1]['content'] + ",
            lit(f"\n\n{DOLLY_END}"),
            " + eos_token }}",
            "{%- elif add_generation_prompt -%}",
            "{{ ",
            response_header,
            " }}",
            "{%- endif -%}",
        ]
    )


def format_prompt(tokenizer: Any, instruction: str, context: str, fmt: PromptFormat) -> str:
    """Render the prompt part (what the model reads before answering) in the chosen format.

    ``chat_template`` requires ``tokenizer.chat_template``; the context follows the instruction
    in the single user turn.
    """
    if fmt == "dolly":
        return dolly_prompt(instruction, context)
    user = instruction if not context.strip() else f"{instruction}\n\n{context}"
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": user}], tokenize=False, add_generation_prompt=True
    )
    return str(text)


def format_response(tokenizer: Any, response: str, fmt: PromptFormat) -> str:
    """Render the answer part; Dolly ends it with its end marker, chat templates with theirs."""
    if fmt == "dolly":
        return f"{response}\n\n{DOLLY_END}"
    probe = [{"role": "user", "content": "x"}]
    head = str(tokenizer.apply_chat_template(probe, tokenize=False, add_generation_prompt=True))
    full = str(
        tokenizer.apply_chat_template(
            [*probe, {"role": "assistant", "content": response}], tokenize=False
        )
    )
    # The assistant turn is what the full conversation adds after the generation prompt.
    return full[len(head) :] if full.startswith(head) else response


def _encode(tokenizer: Any, text: str, *, special: bool) -> list[int]:
    return list(tokenizer(text, add_special_tokens=special)["input_ids"])


def _truncate_middle(ids: list[int], budget: int) -> list[int]:
    """Keep the head and the tail (instruction start and response header) within budget."""
    if len(ids) <= budget:
        return ids
    head = budget // 2
    return ids[:head] + ids[len(ids) - (budget - head) :]


# ---------------------------------------------------------------------------------------------
# SFT
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenizedExample:
    """One prompt/response pair as tokens. ``input_ids[:n_prompt]`` is the prompt."""

    input_ids: list[int]
    n_prompt: int

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def n_targets(self) -> int:
        """Tokens the loss is computed on: every response token, EOS included."""
        return len(self.input_ids) - self.n_prompt

    def targets(self) -> list[int]:
        """Next-token targets aligned to ``input_ids``: position t predicts token t+1.

        Only response tokens are targets; the prompt and the last position are IGNORE_INDEX.
        """
        ids = self.input_ids
        return [
            ids[t + 1] if t + 1 >= self.n_prompt else IGNORE_INDEX for t in range(len(ids) - 1)
        ] + [IGNORE_INDEX]


def tokenize_sft(
    tokenizer: Any,
    row: dict[str, Any],
    *,
    max_seq_len: int,
    fmt: PromptFormat = "dolly",
) -> TokenizedExample | None:
    """Tokenize one ``sft`` row: prompt (with BOS if the tokenizer adds one), response, EOS.

    Precondition: ``tokenizer.eos_token_id`` is set. Over-long prompts are cut in the middle to
    at most half the budget when the response needs the room; over-long responses are cut at
    the end (losing EOS). Returns None when nothing of the response would be left.
    """
    prompt = _encode(
        tokenizer,
        format_prompt(tokenizer, row["instruction"], row["context"] or "", fmt),
        special=True,
    )
    response = _encode(tokenizer, format_response(tokenizer, row["response"], fmt), special=False)
    if fmt == "dolly" or not response or response[-1] != tokenizer.eos_token_id:
        response.append(int(tokenizer.eos_token_id))
    prompt = _truncate_middle(prompt, max(max_seq_len - len(response), max_seq_len // 2))
    response = response[: max_seq_len - len(prompt)]
    if not response:
        return None
    return TokenizedExample(prompt + response, len(prompt))


def pack_rows(lengths: Sequence[int], capacity: int, rng: random.Random) -> list[list[int]]:
    """Pack example indices into rows of at most ``capacity`` tokens (best-fit decreasing).

    Ties in length are broken at random so that row composition varies between epochs; the
    rows are returned shuffled. Precondition: every length is at most ``capacity``.
    """
    import bisect

    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], rng.random()))
    rows: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (free tokens, row index), sorted
    for index in order:
        need = lengths[index]
        slot = bisect.bisect_left(free, (need, -1))
        if slot < len(free):
            space, row = free.pop(slot)
        else:
            space, row = capacity, len(rows)
            rows.append([])
        rows[row].append(index)
        bisect.insort(free, (space - need, row))
    rng.shuffle(rows)
    return rows


@dataclass
class PackedBatch:
    """A ``[B, L]`` micro-batch of packed rows.

    ``doc`` numbers the examples inside a row (-1 marks padding) and ``segment`` marks
    branches that share a prefix (0 everywhere for SFT); together they define the attention
    mask (see :func:`worker.masks.attention_mask`). ``targets`` are aligned next-token targets.
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    doc: torch.Tensor
    segment: torch.Tensor
    targets: torch.Tensor
    n_targets: int = 0
    n_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> PackedBatch:
        """The same batch with ``fn`` applied to every tensor (``extra``'s included)."""
        ids, positions, doc, segment, targets = (fn(t) for t in self.tensors())
        extra = {k: fn(v) if isinstance(v, torch.Tensor) else v for k, v in self.extra.items()}
        return PackedBatch(
            ids,
            positions,
            doc,
            segment,
            targets,
            n_targets=self.n_targets,
            n_tokens=self.n_tokens,
            extra=extra,
        )

    def to(self, device: torch.device) -> PackedBatch:
        """Move every tensor to ``device`` (non-blocking from pinned memory)."""
        return self.map(lambda t: t.to(device, non_blocking=True))

    def pin_memory(self) -> PackedBatch:
        """The same batch in page-locked memory, so that ``to`` can copy without blocking."""
        return self.map(torch.Tensor.pin_memory)

    def tensors(self) -> tuple[torch.Tensor, ...]:
        return (self.input_ids, self.position_ids, self.doc, self.segment, self.targets)


def collate_sft(
    examples: Sequence[TokenizedExample],
    rows: Sequence[Sequence[int]],
    *,
    seq_len: int,
    pad_id: int,
) -> PackedBatch:
    """Lay out rows of examples as a ``[len(rows), seq_len]`` batch; an empty row is padding.

    Position ids restart at 0 for every example, so RoPE sees each one as if it were alone.
    """
    shape = (len(rows), seq_len)
    input_ids = torch.full(shape, pad_id, dtype=torch.long)
    position_ids = torch.zeros(shape, dtype=torch.long)
    doc = torch.full(shape, -1, dtype=torch.long)
    targets = torch.full(shape, IGNORE_INDEX, dtype=torch.long)
    n_targets = n_tokens = 0
    for r, row in enumerate(rows):
        start = 0
        for d, index in enumerate(row):
            ex = examples[index]
            end = start + len(ex)
            input_ids[r, start:end] = torch.tensor(ex.input_ids)
            position_ids[r, start:end] = torch.arange(len(ex))
            doc[r, start:end] = d
            targets[r, start:end] = torch.tensor(ex.targets())
            n_targets += ex.n_targets
            start = end
        n_tokens += start
        # Padding gets its own positions so that no real token's RoPE phase changes.
        position_ids[r, start:] = torch.arange(seq_len - start)
    return PackedBatch(
        input_ids, position_ids, doc, torch.zeros_like(doc), targets, n_targets, n_tokens
    )


# ---------------------------------------------------------------------------------------------
# Rankings for the reward model
# ---------------------------------------------------------------------------------------------


def ordered_pairs(
    ranks: Sequence[float], left_out: frozenset[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Every strictly ordered pair ``(better, worse)`` of indices into ``ranks`` (lower is
    better), except those ``left_out`` names (as ``(lower index, higher index)``)."""
    k = len(ranks)
    return [
        (i, j)
        for i in range(k)
        for j in range(k)
        if ranks[i] < ranks[j] and _unordered(i, j) not in left_out
    ]


def _unordered(i: int, j: int) -> tuple[int, int]:
    return (min(i, j), max(i, j))


@dataclass(frozen=True)
class RankedPrompt:
    """A prompt with K ≥ 2 responses and their consensus ranks (lower is better, ties allowed).

    ``left_out`` names pairs of responses, as ``(lower index, higher index)``, that the ranks
    order but that are neither trained nor scored on (see RewardConfig.min_margin): the
    ranks, and Kendall's tau against them, stay the consensus order."""

    prompt_id: str
    instruction: str
    context: str
    responses: tuple[str, ...]
    ranks: tuple[float, ...]
    left_out: frozenset[tuple[int, int]] = frozenset()

    def pairs(self) -> list[tuple[int, int]]:
        """Every strictly ordered pair ``(better, worse)`` of response indices not left out."""
        return ordered_pairs(self.ranks, self.left_out)


def pair_is_kept(row: dict[str, Any], min_margin: float) -> bool:
    """Whether a ``preferences`` row's pair is trained on: its ``margin`` (the share of
    rankers who agree with it) is above ``min_margin``. A row without a margin, or whose
    ``rankers`` count is 0 (the margin then says nothing), is kept; so is every row when
    ``min_margin`` is negative."""
    margin = row.get("margin")
    if min_margin < 0 or margin is None or row.get("rankers") == 0:
        return True
    return float(margin) > min_margin


def groups_from_preferences(
    rows: Iterable[dict[str, Any]], min_margin: float = -1.0
) -> list[RankedPrompt]:
    """Rebuild each prompt's ranked response set from its pairwise ``preferences`` rows.

    A response's rank is the rank column it appears with; if ranks are missing, the number of
    pairs it loses is used instead (a Copeland-style order). A pair whose row
    :func:`pair_is_kept` refuses under ``min_margin`` is left out (``RankedPrompt.left_out``;
    the default, negative, keeps every pair), and so is a pair of two responses that no row
    pairs (a release leaves out the pairs most rankers ordered against the consensus, whose
    ranks alone would put them back the consensus' way); a prompt with no pair left is
    dropped.
    """
    by_prompt: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = by_prompt.setdefault(
            str(row["prompt_id"]),
            {
                "instruction": row["instruction"],
                "context": row.get("context") or "",
                "rank": {},
                "left_out": [],
                "paired": [],
            },
        )
        entry["paired"].append((row["chosen"], row["rejected"]))
        if not pair_is_kept(row, min_margin):
            entry["left_out"].append((row["chosen"], row["rejected"]))
        ranks: dict[str, float] = entry["rank"]
        for text, key in ((row["chosen"], "chosen_rank"), (row["rejected"], "rejected_rank")):
            value = row.get(key)
            if value is not None:
                ranks[text] = float(value)
            else:
                ranks.setdefault(text, 0.0)
        if row.get("chosen_rank") is None or row.get("rejected_rank") is None:
            ranks[row["rejected"]] += 1.0
    groups = []
    for prompt_id in sorted(by_prompt):
        entry = by_prompt[prompt_id]
        texts = sorted(entry["rank"], key=lambda t: (entry["rank"][t], t))
        index = {text: i for i, text in enumerate(texts)}
        paired = {_unordered(index[a], index[b]) for a, b in entry["paired"]}
        unpaired = {
            (i, j)
            for i in range(len(texts))
            for j in range(i + 1, len(texts))
            if (i, j) not in paired
        }
        groups.append(
            RankedPrompt(
                prompt_id,
                entry["instruction"],
                entry["context"],
                tuple(texts),
                tuple(entry["rank"][t] for t in texts),
                frozenset(_unordered(index[a], index[b]) for a, b in entry["left_out"]) | unpaired,
            )
        )
    return [g for g in groups if len(g.pairs()) > 0]


def groups_from_rankings(
    rows: Iterable[dict[str, Any]], min_margin: float = -1.0
) -> list[RankedPrompt]:
    """Merge individual ``rankings`` rows into a consensus by mean position across rankers.

    This is not the site's consensus: the site (and the ``preferences`` config) orders a
    prompt's answers by ranked pairs (Tideman), which can differ from the mean-position order
    (a Condorcet winner need not have the best mean position). Train on ``preferences`` for
    a reward model of the site's consensus.

    A pair is left out (``RankedPrompt.left_out``) when the share of the rankers who ordered
    both responses and put the better one first is not above ``min_margin`` (the default,
    negative, keeps every pair); a prompt with no pair left is dropped.
    """
    by_prompt: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_prompt[str(row["prompt_id"])].append(row)
    groups = []
    for prompt_id in sorted(by_prompt):
        rankings = by_prompt[prompt_id]
        responses = tuple(rankings[0]["responses"])
        total = [0.0] * len(responses)
        positions: list[dict[int, int]] = []
        for ranking in rankings:
            positions.append({index: position for position, index in enumerate(ranking["order"])})
            for position, index in enumerate(ranking["order"]):
                total[index] += position + 1
        ranks = tuple(t / len(rankings) for t in total)
        left_out = frozenset(
            _unordered(i, j)
            for i, j in ordered_pairs(ranks, frozenset())
            if min_margin >= 0 and _agreeing_share(positions, i, j) <= min_margin
        )
        first = rankings[0]
        groups.append(
            RankedPrompt(
                prompt_id, first["instruction"], first["context"] or "", responses, ranks, left_out
            )
        )
    return [g for g in groups if len(g.pairs()) > 0]


def _agreeing_share(positions: list[dict[int, int]], better: int, worse: int) -> float:
    """The share of the rankings that order both responses and put ``better`` first."""
    both = [p for p in positions if better in p and worse in p]
    if not both:
        return 0.0
    return sum(p[better] < p[worse] for p in both) / len(both)


def load_ranked_prompts(
    location: str, config: str, split: str, min_margin: float = -1.0
) -> list[RankedPrompt]:
    """Read a release's ``preferences`` or ``rankings`` split as ranked prompt groups, the
    pairs ``min_margin`` refuses left out (see :func:`groups_from_preferences` and
    :func:`groups_from_rankings`)."""
    rows = read_rows(location, config, split)
    if config == "rankings":
        return groups_from_rankings(rows, min_margin)
    if config == "preferences":
        return groups_from_preferences(rows, min_margin)
    raise ValueError(f"a reward model trains on 'preferences' or 'rankings', not {config!r}")


@dataclass(frozen=True)
class TokenizedGroup:
    """A ranked prompt as tokens: the shared prompt, then each response (no EOS).

    The reward is read at each response's last token. Responses carry no EOS so that
    transformers' own pooling (rightmost non-pad token) reads the same position when the
    saved model is used elsewhere, even for tokenizers whose pad token is EOS.
    """

    prompt: list[int]
    responses: list[list[int]]
    ranks: tuple[float, ...]
    left_out: frozenset[tuple[int, int]] = frozenset()

    @property
    def n_tokens(self) -> int:
        """Tokens when the prompt is shared (packed once)."""
        return len(self.prompt) + sum(len(r) for r in self.responses)

    def pairs(self) -> list[tuple[int, int]]:
        """The pairs trained and scored on, as RankedPrompt.pairs gives them."""
        return ordered_pairs(self.ranks, self.left_out)


def tokenize_group(
    tokenizer: Any,
    group: RankedPrompt,
    *,
    max_prompt_len: int,
    max_response_len: int,
    fmt: PromptFormat = "dolly",
) -> TokenizedGroup:
    """Tokenize a ranked prompt; the prompt is cut in the middle, responses at the end."""
    prompt = _encode(
        tokenizer, format_prompt(tokenizer, group.instruction, group.context, fmt), special=True
    )
    responses = [
        _encode(tokenizer, text, special=False)[:max_response_len] or [int(tokenizer.eos_token_id)]
        for text in group.responses
    ]
    return TokenizedGroup(
        _truncate_middle(prompt, max_prompt_len), responses, group.ranks, group.left_out
    )


def pack_by_tokens(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Split indices, in order, into consecutive runs of at most ``budget`` tokens each.

    An item longer than the budget gets a run of its own.
    """
    runs: list[list[int]] = []
    used = budget + 1
    for index, length in enumerate(lengths):
        if used + length > budget:
            runs.append([])
            used = 0
        runs[-1].append(index)
        used += length
    return runs


def collate_groups_shared(
    groups: Sequence[TokenizedGroup], *, pad_id: int, multiple: int = 64, min_length: int = 0
) -> PackedBatch:
    """Pack groups into one row (``B = 1``): each prompt once, each response a branch after it.

    Within a group, ``segment`` is 0 on the prompt and k+1 on response k; a response attends to
    its prompt and to itself only, with positions continuing from the prompt's end. The row is
    padded to a multiple of ``multiple``, and to at least ``min_length``, to limit distinct
    shapes. ``extra`` holds the score positions (``score_row``, ``score_index``), the owning
    group of each score (``score_group``) and the per-group rank lists (``ranks``).
    """
    total = sum(g.n_tokens for g in groups)
    length = max(multiple, min_length, -(-total // multiple) * multiple)
    input_ids = torch.full((1, length), pad_id, dtype=torch.long)
    position_ids = torch.zeros((1, length), dtype=torch.long)
    doc = torch.full((1, length), -1, dtype=torch.long)
    segment = torch.zeros((1, length), dtype=torch.long)
    score_index: list[int] = []
    start = 0
    for d, group in enumerate(groups):
        p = len(group.prompt)
        input_ids[0, start : start + p] = torch.tensor(group.prompt)
        position_ids[0, start : start + p] = torch.arange(p)
        doc[0, start : start + p] = d
        start += p
        for k, response in enumerate(group.responses):
            n = len(response)
            input_ids[0, start : start + n] = torch.tensor(response)
            position_ids[0, start : start + n] = torch.arange(p, p + n)
            doc[0, start : start + n] = d
            segment[0, start : start + n] = k + 1
            start += n
            score_index.append(start - 1)
    position_ids[0, start:] = torch.arange(length - start)
    return PackedBatch(
        input_ids,
        position_ids,
        doc,
        segment,
        torch.full((1, length), IGNORE_INDEX, dtype=torch.long),
        n_tokens=total,
        extra=_group_extra(groups, [0] * len(score_index), score_index),
    )


def collate_groups_padded(groups: Sequence[TokenizedGroup], *, pad_id: int) -> PackedBatch:
    """Lay out every (prompt + response) as its own right-padded row; for encoder models.

    ``doc`` is 0 on real tokens and -1 on padding; row r's score is read at its last real
    token, ``[score_row[r], score_index[r]]`` in ``extra``.
    """
    sequences = [g.prompt + r for g in groups for r in g.responses]
    length = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    doc = torch.full((len(sequences), length), -1, dtype=torch.long)
    for r, seq in enumerate(sequences):
        input_ids[r, : len(seq)] = torch.tensor(seq)
        doc[r, : len(seq)] = 0
    position_ids = torch.arange(length).expand(len(sequences), -1).clone()
    return PackedBatch(
        input_ids,
        position_ids,
        doc,
        torch.zeros_like(doc),
        torch.full_like(doc, IGNORE_INDEX),
        n_tokens=sum(len(s) for s in sequences),
        extra=_group_extra(groups, list(range(len(sequences))), [len(s) - 1 for s in sequences]),
    )


def _group_extra(
    groups: Sequence[TokenizedGroup], score_row: list[int], score_index: list[int]
) -> dict[str, Any]:
    owner = [d for d, g in enumerate(groups) for _ in g.responses]
    return {
        "score_row": torch.tensor(score_row, dtype=torch.long),
        "score_index": torch.tensor(score_index, dtype=torch.long),
        "score_group": torch.tensor(owner, dtype=torch.long),
        "ranks": [g.ranks for g in groups],
        "n_pairs": sum(len(g.pairs()) for g in groups),
    }
