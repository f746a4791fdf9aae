"""One build attempt's passes over the data: prompts, answers, then ranked prompts in chunks;
the rows of each config assembled as Arrow tables, split by prompt, counted and keyed."""

from __future__ import annotations

import bisect
import json
import logging
import statistics
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from django.conf import settings
from django.utils import timezone

from apps.accounts.models import User
from apps.collection.models import PromptState, Source
from apps.feedback.models import PromptConsensus, Ranking
from apps.releases.building.arrays import int64_array, scalar, values_array
from apps.releases.building.layout import (
    CONFIGS,
    DOLLY_PATHS,
    PARQUET_OPTIONS,
    PRIVATE_DIR,
    SPLITS,
    pseudonym,
    release_schemas,
)
from apps.releases.building.queries import (
    CONSENSUS_COLUMNS,
    PROMPT_COLUMNS,
    RANKING_COLUMNS,
    SFT_COLUMNS,
    chunk_queries,
    consensus_filter,
    licences_query,
    origins_queries,
    prompts_query,
    rankings_filter,
    sft_query,
)
from apps.releases.building.splits import splits_settle
from apps.releases.building.streams import (
    BATCH_ROWS,
    OrmReader,
    Pipeline,
    PostgresReader,
    SplitWriter,
    dolly_bytes,
    json_value,
    string_bytes,
    table_from_rows,
)
from apps.releases.models import Release, ReleaseState, Split

# Array and Table: for nested functions of methods where ``pa`` names a local (``self.pa``).
if TYPE_CHECKING:
    import pyarrow as pa
    from pyarrow import Array, Table

log = logging.getLogger(__name__)

# Ranked prompts per chunk: per round of rankings/consensus queries, and per batch of rankings
# and preferences rows assembled (its answers, about 1 MB of text, are held until then).
PROMPT_CHUNK = 2_000
# Chunks whose rankings and consensus are fetched ahead of the one being assembled (one
# reading thread, in order): fetching and assembling times vary from chunk to chunk, and a
# deeper queue keeps either side from waiting on the other's slow chunk.
FETCH_AHEAD = 4
# Progress is written to the Release row at most once per this many source rows (each write
# is a commit: a few milliseconds), and at least every PROGRESS_SECONDS while the build goes
# on: its heartbeat (``Release.progress_at``), which ``models.BUILD_STALE`` is a multiple of.
PROGRESS_EVERY = 100_000
PROGRESS_SECONDS = 10

Progress = Callable[[int, int], None]
# The table of the rows a boolean mask selects (None: all of them).
Rows = Callable[[Any], "pa.Table"]


class BuildSuperseded(Exception):
    """Another build attempt claimed this release; this one stops and leaves it alone."""


class Fetched(NamedTuple):
    """The rankings and consensus of one chunk of ranked prompts (see ``chunk_queries``) as
    Arrow tables, the orders and pairwise wins as JSON text (``JsonText``)."""

    rankings: pa.Table
    consensus: pa.Table


def column(table: pa.Table, name: str) -> pa.Array:
    chunks = table.column(name)
    # combine_chunks copies even a lone chunk, and fetched tables have one.
    return chunks.chunk(0) if chunks.num_chunks == 1 else chunks.combine_chunks()


def run_starts(values: pa.Array) -> pa.Array:
    """Where each run of equal values starts (True at the first value and wherever the value
    changes)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if len(values) == 0:
        return values_array([], pa.bool_())
    return pa.concat_arrays(
        [
            values_array([True], pa.bool_()),
            pc.not_equal(values.slice(1), values.slice(0, len(values) - 1)),
        ]
    )


def id_lists(texts: pa.Array) -> tuple[pa.Array, pa.Array]:
    """The ids of JSON arrays of ids (``"[3, 1, 2]"``, as PostgreSQL writes jsonb and
    ``json.dumps`` writes lists), back to back, and the row of ``texts`` each came from."""
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = pc.split_pattern(pc.utf8_trim(texts, "[]"), ", ")
    values, rows = pc.list_flatten(parts), pc.list_parent_indices(parts)
    present = pc.not_equal(values, scalar(""))
    return values.filter(present).cast(pa.int64()), rows.filter(present)


def counts_per_row(owners: pa.Array, rows: int) -> pa.Array:
    """How many times each row number ``0 .. rows - 1`` appears in ``owners`` (null for
    none)."""
    import pyarrow.compute as pc

    counted = pc.value_counts(owners)
    at = pc.index_in(int64_array(range(rows)), value_set=counted.field("values"))
    return counted.field("counts").take(at)


def selected(table: pa.Table) -> Rows:
    """``Build.write_split``'s rows of a table already built."""
    return lambda keep: table if keep is None else table.filter(keep)


def picked(arrays: dict[str, pa.Array], keep: pa.Array | None) -> dict[str, pa.Array]:
    """The arrays' values at the rows that ``keep`` selects (None: all of them)."""
    return arrays if keep is None else {name: a.filter(keep) for name, a in arrays.items()}


def json_text(value: Any, empty: Any) -> str:
    """The ORM path's ``JsonText``: the JSON value as PostgreSQL writes jsonb (the same
    separators as ``json.dumps``)."""
    return json.dumps(json_value(value) or empty)


class Chunk:
    """The answers that enter of a chunk of ranked prompts, with their prompts, as Arrow
    arrays. A prompt's answers are ``texts[start : start + count]`` in id order
    (``answer_starts``, ``answer_counts`` by prompt row); prompts with fewer than two give no
    rankings and no pairs, and prompts with none are not here at all."""

    def __init__(self, pa: Any, answers: pa.Table) -> None:
        """``answers``: sft rows (``prompt_id``, ``id``, ``instruction``, ``context``,
        ``response``) ordered by prompt, then id."""
        import pyarrow.compute as pc

        self.pa = pa
        self.response_ids = column(answers, "id")
        self.response_prompts = column(answers, "prompt_id")
        self.texts = column(answers, "response")
        self.licences = column(answers, "licence")
        self.origins = column(answers, "origin")
        firsts = run_starts(self.response_prompts)
        self.prompt_ids = self.response_prompts.filter(firsts)
        self.instructions = column(answers, "instruction").filter(firsts)
        self.contexts = column(answers, "context").filter(firsts)
        self.prompt_licences = column(answers, "prompt_licence").filter(firsts)
        self.prompt_origins = column(answers, "prompt_origin").filter(firsts)
        self.answer_starts = pc.indices_nonzero(firsts).cast(pa.int64())
        ends = pa.concat_arrays([self.answer_starts.slice(1), int64_array([len(self.texts)])])
        self.answer_counts = pc.subtract(ends, self.answer_starts)
        # Each answer's position among its prompt's answers.
        self.positions = pc.subtract(
            int64_array(range(len(self.texts))),
            self.answer_starts.take(self.rows_of(self.response_prompts)),
        )
        offsets = pa.concat_arrays(
            [self.answer_starts.cast(pa.int32()), values_array([len(self.texts)], pa.int32())]
        )
        # Each prompt's answers, and their licences and origins, as lists.
        self.answer_lists = pa.ListArray.from_arrays(offsets, self.texts)
        self.licence_lists = pa.ListArray.from_arrays(offsets, self.licences)
        self.origin_lists = pa.ListArray.from_arrays(offsets, self.origins)
        self.id_lists = pa.ListArray.from_arrays(offsets, self.response_ids)

    def prompt_columns(self, kept: dict[str, pa.Array]) -> dict[str, pa.Array]:
        """The prompt columns every ranked config starts with, for rows of ``kept`` (its
        ``prompt_id`` and, by ``row``, the prompt's instruction and context)."""
        return {
            "prompt_id": kept["prompt_id"],
            "instruction": self.instructions.take(kept["row"]),
            "context": self.contexts.take(kept["row"]),
        }

    def prompt_licence_columns(self, kept: dict[str, pa.Array]) -> dict[str, pa.Array]:
        """The licence and origin of the prompt of each row of ``kept`` (by ``row``)."""
        return {
            "prompt_licence": self.prompt_licences.take(kept["row"]),
            "prompt_origin": self.prompt_origins.take(kept["row"]),
        }

    def rows_of(self, prompt_ids: pa.Array) -> pa.Array:
        """The row of each prompt id among the chunk's prompts."""
        import pyarrow.compute as pc

        return pc.index_in(prompt_ids, value_set=self.prompt_ids)

    def project(self, orders: pa.Array, prompt_ids: pa.Array) -> tuple[pa.Array, pa.Array]:
        """Orders (``id_lists`` texts, one per row, row ``i`` of prompt ``prompt_ids[i]``)
        restricted to the answers of the row's prompt that enter: the index in ``texts`` of
        each answer kept, and its row, in order."""
        import pyarrow.compute as pc

        values, rows = id_lists(orders)
        index = pc.index_in(values, value_set=self.response_ids)
        own = pc.fill_null(
            pc.equal(self.response_prompts.take(index), prompt_ids.take(rows)), scalar(False)
        )
        return index.filter(own), rows.filter(own)


class RankedAnswers:
    """The sft stream's rows of ranked prompts, held until their chunk of prompts is complete.

    The stream comes ordered by prompt, then id, so once it has passed a prompt id every
    answer of the prompts up to it is here. Only the ranked prompts' rows are kept, and only
    the columns a ``Chunk`` needs. ``bounds`` are the chunks' (first, last) prompt ids, in
    order."""

    COLUMNS = (
        "prompt_id",
        "id",
        "instruction",
        "context",
        "response",
        "licence",
        "origin",
        "prompt_licence",
        "prompt_origin",
    )

    def __init__(self, pa: Any, ranked: list[int], bounds: list[tuple[int, int]]) -> None:
        from collections import deque

        self.pa = pa
        self.ranked = ranked  # increasing
        self.passed: int | None = None  # the highest prompt id the stream has reached
        self.ended = False
        self._waiting = deque(bounds)
        self._held: list[pa.Table] = []

    def add(self, batch: pa.RecordBatch) -> None:
        import pyarrow.compute as pc

        prompt_ids = batch.column("prompt_id")
        if len(prompt_ids) == 0:
            return
        low, high = prompt_ids[0].as_py(), prompt_ids[-1].as_py()
        self.passed = high
        within = self.ranked[
            bisect.bisect_left(self.ranked, low) : bisect.bisect_right(self.ranked, high)
        ]
        if not within:
            return
        keep = pc.is_in(prompt_ids, value_set=int64_array(within))
        table = self.pa.Table.from_batches([batch]).select(list(self.COLUMNS))
        self._held.append(table.filter(keep))

    def end(self) -> None:
        """The stream has ended: every chunk is complete."""
        self.ended = True

    def complete(self, last: int) -> bool:
        """Whether every answer of the prompts up to ``last`` is here (the stream has gone
        past it, or ended)."""
        return self.ended or (self.passed is not None and self.passed > last)

    def ready(self) -> Iterator[pa.Table]:
        """The answers of each chunk now complete, in order, no longer held."""
        while self._waiting and self.complete(self._waiting[0][1]):
            yield self.take_through(self._waiting.popleft()[1])

    def take_through(self, last: int) -> pa.Table:
        """The rows held of prompts up to ``last``, no longer held."""
        import pyarrow.compute as pc

        if not self._held:
            return self.pa.table(
                {name: values_array([], type) for name, type in self._types().items()}
            )
        held = self.pa.concat_tables(self._held)
        through = pc.sum(pc.less_equal(held.column("prompt_id"), scalar(last))).as_py() or 0
        rest = held.slice(through)
        self._held = [rest] if rest.num_rows else []
        return held.slice(0, through)

    def _types(self) -> dict[str, pa.DataType]:
        int64, text = self.pa.int64(), self.pa.string()
        return {name: int64 if name in ("prompt_id", "id") else text for name in self.COLUMNS}


class SortedIds:
    """Prompt ids in increasing order (the prompts pass reads them by id), 8 bytes each.

    ``complete`` says every prompt the later passes meet is in here (one snapshot); then
    membership is never asked."""

    def __init__(self, *, complete: bool) -> None:
        from array import array

        self.complete = complete
        self._ids = array("q")

    def extend(self, ids: list[int]) -> None:
        self._ids.extend(ids)

    def __contains__(self, prompt_id: object) -> bool:
        if self.complete:
            return True
        index = bisect.bisect_left(self._ids, prompt_id)  # type: ignore[call-overload]
        return index < len(self._ids) and self._ids[index] == prompt_id


class Build:
    """The state of one build attempt: writers, counters, progress."""

    def __init__(
        self,
        release: Release,
        token: str,
        folder: Path,
        reader: OrmReader | PostgresReader,
        progress: Progress | None,
    ) -> None:
        import pyarrow as pa

        self.pa = pa
        self.release = release
        self.token = token
        self.flt = release.release_filter
        self.folder = folder
        self.reader = reader
        self.callback = progress
        self.schemas = release_schemas()
        shard_rows = settings.HEARTH_RELEASE_SHARD_ROWS
        self.pipeline = Pipeline()
        self.writers = {
            (config, split): SplitWriter(
                folder, config, split, self.schemas[config], shard_rows, self.pipeline
            )
            for config in CONFIGS
            for split in SPLITS
        }
        # Each config's row keys and, for each, a digest of what the row holds (``add_keys``).
        self.keys: dict[str, list[Any]] = {config: [] for config in CONFIGS}
        self.digests: dict[str, list[Any]] = {config: [] for config in CONFIGS}
        self.by_category: dict[str, Counter[str]] = {"prompts": Counter(), "sft": Counter()}
        self.by_language: dict[str, Counter[str]] = {"prompts": Counter(), "sft": Counter()}
        self.contributors: set[int] = set()
        # sft rows by their answer's licence, and prompts by their own.
        self.licences: dict[str, int] = {}
        self.prompt_licences: dict[str, int] = {}
        self.sources: dict[str, dict[str, Any]] = {}
        # Kendall's W of each prompt whose preference pairs are in the release (those
        # without a measured one left out), and how many prompts gave pairs.
        self.agreements: list[float] = []
        self.preference_prompts = 0
        # Prompts per config and split; rows come ordered by prompt in every config, so a
        # prompt's rows are counted once across batches by the last prompt id seen.
        self.split_prompts: dict[str, dict[str, int]] = {
            config: dict.fromkeys(SPLITS, 0) for config in CONFIGS
        }
        self._last_prompt: dict[tuple[str, str], int] = {}
        # Each split's size in memory and on disk (SplitWriter), once the writers are closed.
        self.sizes: dict[str, dict[str, dict[str, int]]] = {}
        self.ranked_prompts: list[Any] = []
        self.done = 0
        self.total = 0
        self._counting: Future[int] | None = None
        self._reported = 0
        self._reported_at = time.monotonic()
        # Filled by the prompts pass: test-split prompt ids (a small share), and every prompt
        # id seen, kept compactly (sorted, searched by bisection); then the splits of prompts
        # met later that it did not see (the ORM path reads no snapshot).
        self.test_ids: set[int] = set()
        self._test_array: pa.Array | None = None
        self.seen_ids = SortedIds(complete=isinstance(reader, PostgresReader))
        self._late: dict[int, str] = {}
        self._pseudonyms: dict[int, str] = {}
        (folder / "dolly").mkdir(parents=True, exist_ok=True)
        # One file per split (data QA: one file of both splits, in prompt order, had a
        # consumer train on the test split's rows).
        self.dolly = {split: open(folder / DOLLY_PATHS[split], "wb") for split in SPLITS}  # noqa: SIM115

    # --- helpers --------------------------------------------------------------------------

    def test_mask(self, prompt_ids: pa.Array) -> pa.Array:
        """Which rows are in the test split. The prompts pass read every prompt's split; a
        prompt it did not see (the ORM path reads no snapshot) is settled here."""
        import pyarrow.compute as pc

        if not self.seen_ids.complete:
            unseen = [
                pid
                for pid in pc.unique(prompt_ids).to_pylist()
                if pid not in self.seen_ids and pid not in self._late
            ]
            if unseen:
                self._late.update(self.settle(unseen))
                self.test_ids.update(pid for pid in unseen if self._late.get(pid) == Split.TEST)
        if self._test_array is None or len(self._test_array) != len(self.test_ids):
            self._test_array = int64_array(sorted(self.test_ids))
        return pc.is_in(prompt_ids, value_set=self._test_array)

    def settle(self, prompt_ids: list[int]) -> dict[int, str]:
        """The splits of prompts that had none when the build assigned splits (they entered
        since), assigned now (``splits_settle``), through the reader: on SQLite its open
        stream holds Django's connection."""
        return self.reader.write(lambda: splits_settle(release=self.release, prompt_ids=prompt_ids))

    def pseudonym(self, user_id: int) -> str:
        value = self._pseudonyms.get(user_id)
        if value is None:
            value = self._pseudonyms[user_id] = pseudonym(user_id)
        return value

    def write_split(self, config: str, rows: Rows, test: pa.Array, prompt_ids: pa.Array) -> None:
        """Rows into the test and train splits; ``test`` says which rows are in the test split,
        ``prompt_ids`` each row's prompt (counted per split: ``count_prompts``).
        ``rows(keep)`` gives the table of the rows that ``keep`` selects (None: all of them),
        so the rankings and preferences take their texts only once, for each split's rows."""
        import pyarrow.compute as pc

        tests = pc.sum(test).as_py() or 0
        keeps: list[tuple[str, Any]]
        if tests == 0:
            keeps = [("train", None)]
        elif tests == len(test):
            keeps = [("test", None)]
        else:
            keeps = [("test", test), ("train", pc.invert(test))]
        schema = self.schemas[config]
        for split, keep in keeps:
            table = rows(keep)
            self.writers[config, split].write(
                table if table.schema.equals(schema) else table.cast(schema)
            )
            self.count_prompts(
                config, split, prompt_ids if keep is None else prompt_ids.filter(keep)
            )

    def count_prompts(self, config: str, split: str, prompt_ids: pa.Array) -> None:
        """Count the distinct prompts of rows written to a split. Every config's rows come
        ordered by prompt (prompts and answers by id, rankings and pairs chunk by chunk), so
        a prompt's rows are one run, which may go on from the split's previous batch."""
        import pyarrow.compute as pc

        if len(prompt_ids) == 0:
            return
        prompts = pc.sum(run_starts(prompt_ids).cast(self.pa.int64())).as_py() or 0
        key = (config, split)
        if self._last_prompt.get(key) == prompt_ids[0].as_py():
            prompts -= 1
        self._last_prompt[key] = prompt_ids[-1].as_py()
        self.split_prompts[config][split] += prompts

    def add_keys(self, config: str, keys: pa.Array, digests: pa.Array) -> None:
        """Rows written to ``config``: their keys (what identifies a row from one release to
        the next) and digests (what it holds, which may change under the same key)."""
        self.keys[config].append(keys)
        self.digests[config].append(digests)

    def advance(self, rows: int) -> None:
        self.done += rows
        if self.done - self._reported >= PROGRESS_EVERY:
            self.report()
        else:
            self.beat()
        if self.callback is not None:
            self.callback(self.done, self.known_total(wait=False))

    def known_total(self, *, wait: bool) -> int:
        """The source rows to read, once counted (0 before, unless ``wait``)."""
        if self._counting is not None and (wait or self._counting.done()):
            self.total = self._counting.result()
            self._counting = None
        return self.total

    def beat(self) -> None:
        """Write the progress if PROGRESS_SECONDS have passed since it was last written, so
        that a build going on, however slowly, never looks stalled."""
        if time.monotonic() - self._reported_at >= PROGRESS_SECONDS:
            self.report()

    def report(self) -> None:
        self.known_total(wait=True)
        self._reported = self.done
        self._reported_at = time.monotonic()
        done, total = self.done, max(self.total, self.done)
        # Through the reader: on SQLite its stream holds Django's connection (see write).
        updated = self.reader.write(
            lambda: Release.objects.filter(
                pk=self.release.pk, state=ReleaseState.BUILDING, build_token=self.token
            ).update(progress_done=done, progress_total=total, progress_at=timezone.now())
        )
        if not updated:
            raise BuildSuperseded(self.release.version)

    @staticmethod
    def count_values(counter: Counter[str], column: pa.Array) -> None:
        import pyarrow.compute as pc

        for item in pc.value_counts(column).to_pylist():
            counter[item["values"]] += item["counts"]

    # --- the passes -----------------------------------------------------------------------

    def run(self) -> None:
        pa = self.pa
        flt = self.flt
        server_json = isinstance(self.reader, PostgresReader)
        prompts_qs, sft_qs = prompts_query(flt), sft_query(flt, dolly_line=server_json)
        self._counting = self.reader.count_later(
            [
                prompts_qs,
                sft_qs,
                Ranking.objects.filter(rankings_filter(flt)),
                PromptConsensus.objects.filter(consensus_filter(flt)),
            ]
        )
        if self._counting.done():
            self.report()
        # In the build's snapshot, so that the card's licences are those of its rows.
        self.licences = {str(name): int(n) for name, n in self.reader.fetch(licences_query(flt))}
        self.sources = self.origins()
        text, int64 = pa.string(), pa.int64()
        for batch in self.reader.stream(
            prompts_qs, PROMPT_COLUMNS, (int64, *[text] * 7, int64, text, text)
        ):
            self.on_prompts(batch)
        ranked = pa.concat_arrays(self.ranked_prompts).to_pylist() if self.ranked_prompts else []
        bounds = [
            (ranked[start], ranked[min(start + PROMPT_CHUNK, len(ranked)) - 1])
            for start in range(0, len(ranked), PROMPT_CHUNK)
        ]
        # The ranked configs take their texts from the sft stream (RankedAnswers) and their
        # rankings, chunk by chunk, from a second reader on the same snapshot.
        answers = RankedAnswers(pa, ranked, bounds)
        sft_columns = (*SFT_COLUMNS, "dolly_line") if server_json else SFT_COLUMNS
        sft_types = (int64, *[text] * 10, int64, int64, text, text)
        with closing(self.fetch_chunks(bounds)) as chunks:
            for batch in self.reader.stream(sft_qs, sft_columns, sft_types[: len(sft_columns)]):
                self.on_sft(batch)
                answers.add(batch)
                for rows in answers.ready():
                    self.on_ranked_chunk(rows, next(chunks))
            self.close_dolly()
            answers.end()
            for rows in answers.ready():
                self.on_ranked_chunk(rows, next(chunks))
        self.report()
        if self.callback is not None:  # now with the counted total, however early it ended
            self.callback(self.done, self.total)

    def close_dolly(self) -> None:
        for handle in self.dolly.values():
            handle.close()

    def origins(self) -> dict[str, dict[str, Any]]:
        """Each origin of the release's prompts and answers: ``{"prompts": n, "sft": n,
        "licences": [names]}``, read grouped by origin and licence (a few rows, whatever the
        release's size)."""
        prompts_qs, answers_qs = origins_queries(self.flt)
        sources: dict[str, dict[str, Any]] = {}
        for key, qs in (("prompts", prompts_qs), ("sft", answers_qs)):
            for origin, licence, rows in self.reader.fetch(qs):
                entry = sources.setdefault(str(origin), {"prompts": 0, "sft": 0, "licences": []})
                entry[key] += int(rows)
                if key == "prompts":
                    name = str(licence)
                    self.prompt_licences[name] = self.prompt_licences.get(name, 0) + int(rows)
                if licence and licence not in entry["licences"]:
                    entry["licences"].append(str(licence))
        for entry in sources.values():
            entry["licences"].sort()
        return sources

    def fetch_chunk(self, reader: OrmReader | PostgresReader, first: int, last: int) -> Fetched:
        pa = self.pa
        text, int64 = pa.string(), pa.int64()
        server = isinstance(reader, PostgresReader)
        rankings, consensus = chunk_queries(self.flt, first, last, json_text=server)
        specs = (
            (rankings, RANKING_COLUMNS, (int64, int64, int64, text)),
            (consensus, CONSENSUS_COLUMNS, (int64, text, text, int64, pa.float64())),
        )
        rows = [reader.fetch(qs) for qs, _, _ in specs]
        if not server:
            rows[0] = [(p, r, u, json_text(order, [])) for p, r, u, order in rows[0]]
            rows[1] = [
                (p, json_text(order, []), json_text(wins, {}), rankers, agreement)
                for p, order, wins, rankers, agreement in rows[1]
            ]
        return Fetched(
            *(
                table_from_rows(fetched, names, types)
                for fetched, (_, names, types) in zip(rows, specs, strict=True)
            )
        )

    def fetch_chunks(self, bounds: list[tuple[int, int]]) -> Generator[Fetched, None, None]:
        """Each chunk's rankings and consensus in turn, read while the sft stream holds the
        reader's connection. On PostgreSQL a thread reads them ahead on a second connection
        (same snapshot); Django's connections belong to their thread, so the ORM path reads
        each when it is asked for, between the stream's batches."""
        if not bounds:
            return
        if not isinstance(self.reader, PostgresReader):
            for first, last in bounds:
                yield self.fetch_chunk(self.reader, first, last)
            return
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        beside = self.reader.beside()
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="release-ranked") as pool:
                ahead = deque(
                    pool.submit(self.fetch_chunk, beside, *b) for b in bounds[:FETCH_AHEAD]
                )
                try:
                    for following in bounds[FETCH_AHEAD:]:
                        fetched = ahead.popleft().result()
                        ahead.append(pool.submit(self.fetch_chunk, beside, *following))
                        yield fetched
                    while ahead:
                        yield ahead.popleft().result()
                finally:
                    for future in ahead:
                        future.cancel()
        finally:
            beside.close()

    def on_prompts(self, batch: pa.RecordBatch) -> None:
        import pyarrow.compute as pc

        ids = batch.column("id")
        self.seen_ids.extend(ids.to_pylist())
        # The split stored for each prompt (joined by prompts_query); empty (COPY) or null
        # (ORM) for one that entered after the build assigned splits.
        splits = batch.column("split")
        stored = pc.fill_null(
            pc.is_in(splits, value_set=values_array(list(Split.values), self.pa.string())),
            scalar(False),
        )
        test = pc.fill_null(pc.equal(splits, scalar(Split.TEST.value)), scalar(False))
        if not pc.all(stored).as_py():
            late = self.settle(ids.filter(pc.invert(stored)).to_pylist())
            late_test = [pid for pid, split in late.items() if split == Split.TEST]
            if late_test:
                test = pc.or_(test, pc.is_in(ids, value_set=int64_array(late_test)))
        self.test_ids.update(ids.filter(test).to_pylist())
        table = self.pa.Table.from_batches([batch]).select(list(self.schemas["prompts"].names))
        self.write_split("prompts", selected(table), test, ids)
        self.count_values(self.by_category["prompts"], batch.column("category"))
        self.count_values(self.by_language["prompts"], batch.column("language"))
        self.contributors.update(pc.unique(batch.column("author_id")).to_pylist())
        ranked = pc.is_in(
            batch.column("state"),
            value_set=values_array(
                [PromptState.RANKING.value, PromptState.COMPLETE.value], self.pa.string()
            ),
        )
        self.ranked_prompts.append(ids.filter(ranked))
        self.add_keys("prompts", ids, batch.column("digest"))
        self.advance(batch.num_rows)

    def on_sft(self, batch: pa.RecordBatch) -> None:
        import pyarrow.compute as pc

        table = self.pa.Table.from_batches([batch]).select(list(self.schemas["sft"].names))
        prompt_ids = batch.column("prompt_id")
        test = self.test_mask(prompt_ids)
        self.write_split("sft", selected(table), test, prompt_ids)
        tests = pc.sum(test).as_py() or 0
        for split, keep in (("test", test), ("train", pc.invert(test))):
            if (tests if split == "test" else len(test) - tests) == 0:
                continue
            rows = batch.filter(keep) if 0 < tests < len(test) else batch
            if "dolly_line" in batch.schema.names:
                self.dolly[split].write(string_bytes(rows.column("dolly_line")))
            else:
                self.dolly[split].write(dolly_bytes(rows))
        self.count_values(self.by_category["sft"], batch.column("category"))
        self.count_values(self.by_language["sft"], batch.column("language"))
        # People only: the account model-written answers are filed under is nobody.
        people = pc.not_equal(batch.column("source"), scalar(Source.MODEL.value))
        authors = pc.filter(batch.column("author_id"), people)
        self.contributors.update(pc.unique(authors).to_pylist())
        self.add_keys("sft", batch.column("id"), batch.column("digest"))
        self.advance(batch.num_rows)

    def on_ranked_chunk(self, answers: pa.Table, fetched: Fetched) -> None:
        """Rankings and preference pairs of a chunk of ranked prompts, from its answers
        (``RankedAnswers.take_through``) and its rankings and consensus.

        Everything is Arrow: orders are split and looked up, rows assembled from integer
        indices into the chunk's texts with ``take``; no Python runs per row.
        """
        chunk = Chunk(self.pa, answers)
        self.emit_rankings(chunk, fetched.rankings)
        self.emit_preferences(chunk, fetched.consensus)
        self.advance(fetched.rankings.num_rows + fetched.consensus.num_rows)

    def emit_rankings(self, chunk: Chunk, rankings: pa.Table) -> None:
        """One row per usable ranking, projected onto the response set that enters (accepted,
        live answers in id order). A ranking that does not order that whole set (it ranked a
        different set) is left out, as is any prompt with fewer than two answers left."""
        import pyarrow.compute as pc

        pa = self.pa
        if rankings.num_rows == 0:
            return
        prompt_ids = column(rankings, "prompt_id")
        rows = chunk.rows_of(prompt_ids)
        counts = chunk.answer_counts.take(rows)
        index, owner = chunk.project(column(rankings, "order"), prompt_ids)
        # A ranking is kept when its projection holds each of its prompt's answers once.
        # Counted with value_counts rather than a group_by: pyarrow's Acero engine (group_by,
        # join, filter by expression) imports pyarrow.dataset, which imports pandas.
        # Distinct answers per ranking: the unique (owner, index) pairs, as one number each.
        answers = scalar(len(chunk.texts))
        distinct = pc.unique(pc.add(pc.multiply(owner, answers), index))
        valid = pc.fill_null(
            pc.and_(
                pc.and_(
                    pc.greater_equal(counts, scalar(2)),
                    pc.equal(counts_per_row(owner, rankings.num_rows), counts),
                ),
                pc.equal(counts_per_row(pc.divide(distinct, answers), rankings.num_rows), counts),
            ),
            scalar(False),
        )
        if not pc.any(valid).as_py():
            return
        rows = rows.filter(valid)
        order_offsets = pa.concat_arrays(
            [int64_array([0]), pc.cumulative_sum(counts.filter(valid))]
        ).cast(pa.int32())
        positions = chunk.positions.take(index.filter(valid.take(owner)))
        ranker_ids = column(rankings, "ranker_id").filter(valid)
        unique = pc.unique(ranker_ids)
        names = values_array(
            [self.pseudonym(user_id) for user_id in unique.to_pylist()], pa.string()
        )
        self.contributors.update(unique.to_pylist())
        kept_prompts = prompt_ids.filter(valid)
        columns = {
            "prompt_id": kept_prompts,
            "row": rows,
            "ranker": names.take(pc.index_in(ranker_ids, value_set=unique)),
            "order": pa.ListArray.from_arrays(order_offsets, positions),
        }

        def table(keep: Array | None) -> Table:
            kept = picked(columns, keep)
            return pa.table(
                {
                    **chunk.prompt_columns(kept),
                    "responses": chunk.answer_lists.take(kept["row"]),
                    "ranker": kept["ranker"],
                    "order": kept["order"],
                    **chunk.prompt_licence_columns(kept),
                    "response_licences": chunk.licence_lists.take(kept["row"]),
                    "response_origins": chunk.origin_lists.take(kept["row"]),
                }
            )

        self.write_split("rankings", table, self.test_mask(kept_prompts), kept_prompts)
        # What the row holds besides its texts, which do not change under their ids: the
        # answers shown (by id) and the order given.
        text_list = pa.list_(pa.string())
        self.add_keys(
            "rankings",
            column(rankings, "id").filter(valid),
            pc.binary_join_element_wise(
                pc.binary_join(chunk.id_lists.take(rows).cast(text_list), scalar(",")),
                pc.binary_join(columns["order"].cast(text_list), scalar(",")),
                scalar("|"),
            ),
        )

    def emit_preferences(self, chunk: Chunk, consensus: pa.Table) -> None:
        """One row per pair of each complete prompt's consensus order, restricted to the
        answers that enter; ranks are positions in that restricted order (1 is best) and the
        margin is the share of rankers who put the chosen answer above the rejected one, never
        below 0.5: a pair most of its rankers ordered the other way is left out. Unusable
        prompts, and prompts under ``min_agreement`` (or with no agreement while a minimum is
        set), give no pairs."""
        import pyarrow.compute as pc

        pa = self.pa
        if consensus.num_rows == 0:
            return
        prompt_ids = column(consensus, "prompt_id")
        orders = column(consensus, "order")
        agreement = column(consensus, "agreement")
        usable = pc.not_equal(orders, scalar("[]"))
        eligible = pc.and_(
            usable, pc.greater_equal(chunk.answer_counts.take(chunk.rows_of(prompt_ids)), scalar(2))
        )
        minimum = self.flt.min_agreement
        if minimum is not None:
            eligible = pc.and_(
                eligible, pc.fill_null(pc.greater_equal(agreement, scalar(minimum)), scalar(False))
            )
        index, owner = chunk.project(orders, prompt_ids)
        keep = eligible.take(owner)
        index, owner = index.filter(keep), owner.filter(keep)
        # Each answer kept, numbered in order (g) and by rank within its prompt's order; the
        # pairs are each answer with every later one of its prompt, the better one first, in
        # the order itertools.combinations gives. Built with compute functions, not a join:
        # Acero (join, group_by) imports pandas through pyarrow.dataset.
        if len(index) == 0:
            return
        g = int64_array(range(len(index)))
        # Owners come in order: a prompt's answers start where the owner changes.
        starts = run_starts(owner)
        rank = pc.subtract(g, pc.cumulative_max(pc.if_else(starts, g, scalar(0))))
        # How many answers of its prompt follow each one: its prompt's answer count (owners
        # numbered in order by the running count of starts), less its rank, less one.
        sizes = pc.value_counts(owner).field("counts")
        prompt_number = pc.subtract(pc.cumulative_sum(starts.cast(pa.int64())), scalar(1))
        later = pc.subtract(pc.subtract(sizes.take(prompt_number), rank), scalar(1))
        total = pc.sum(later).as_py() or 0
        if total == 0:
            return
        # Pair p pairs answer ``first`` (g) with the one ``1 + (p - first's first pair)``
        # after it.
        pair_offsets = pa.concat_arrays([int64_array([0]), pc.cumulative_sum(later)])
        pair_numbers = int64_array(range(total))
        first = pc.list_parent_indices(pa.LargeListArray.from_arrays(pair_offsets, pair_numbers))
        second = pc.add(
            pc.add(first, scalar(1)), pc.subtract(pair_numbers, pair_offsets.take(first))
        )
        owners = owner.take(first)
        chosen_index, rejected_index = index.take(first), index.take(second)
        wins = self.pair_wins(chunk, consensus, chosen_index, rejected_index)
        rankers = column(consensus, "rankers").take(owners)
        # Ranked pairs drops the weakest majority of a cycle, so a pair of the consensus
        # order can be one that most of its rankers ordered the other way: its "rejected"
        # answer is the one most preferred. Such a pair is left out rather than published as
        # chosen over rejected (data QA: inverted labels for a reward model); turning it
        # round would make ``chosen_rank`` worse than ``rejected_rank`` in the consensus
        # order the ranks give. Ties (as many rankers each way, margin 0.5) stay.
        agreed = pc.or_(
            pc.equal(rankers, scalar(0)),
            pc.greater_equal(pc.multiply(wins, scalar(2.0)), rankers.cast(pa.float64())),
        )
        if not pc.all(agreed).as_py():
            first, second, owners = (
                first.filter(agreed),
                second.filter(agreed),
                owners.filter(agreed),
            )
            chosen_index, rejected_index = (
                chosen_index.filter(agreed),
                rejected_index.filter(agreed),
            )
            wins, rankers = wins.filter(agreed), rankers.filter(agreed)
        # The prompts with pairs in the release are those the card's agreement speaks of: one
        # left with a single answer (the others hidden, its rankers banned), or whose pairs
        # were all left out, gives none, whatever its stored agreement (1.0 for a lone one).
        paired = pc.unique(owners)
        self.preference_prompts += len(paired)
        measured = agreement.take(paired)
        self.agreements.extend(measured.filter(pc.is_valid(measured)).to_pylist())
        if len(owners) == 0:
            return
        pair_prompts = prompt_ids.take(owners)
        rows = chunk.rows_of(pair_prompts)
        text = pa.string()
        prompt_text = pair_prompts.cast(text)
        chosen_text = chunk.response_ids.take(chosen_index).cast(text)
        rejected_text = chunk.response_ids.take(rejected_index).cast(text)
        margins = pc.if_else(
            pc.equal(rankers, scalar(0)),
            scalar(0.0),
            pc.divide(wins, pc.max_element_wise(rankers, scalar(1)).cast(pa.float64())),
        )
        columns = {
            "prompt_id": pair_prompts,
            "row": rows,
            "chosen": chosen_index,
            "rejected": rejected_index,
            "chosen_rank": pc.add(rank.take(first), scalar(1)),
            "rejected_rank": pc.add(rank.take(second), scalar(1)),
            "margin": margins,
            "rankers": rankers,
            "agreement": agreement.take(owners),
        }

        def table(keep: Array | None) -> Table:
            kept = picked(columns, keep)
            return pa.table(
                {
                    **chunk.prompt_columns(kept),
                    "chosen": chunk.texts.take(kept["chosen"]),
                    "rejected": chunk.texts.take(kept["rejected"]),
                    "chosen_rank": kept["chosen_rank"],
                    "rejected_rank": kept["rejected_rank"],
                    "margin": kept["margin"],
                    "rankers": kept["rankers"],
                    "agreement": kept["agreement"],
                    **chunk.prompt_licence_columns(kept),
                    "chosen_licence": chunk.licences.take(kept["chosen"]),
                    "chosen_origin": chunk.origins.take(kept["chosen"]),
                    "rejected_licence": chunk.licences.take(kept["rejected"]),
                    "rejected_origin": chunk.origins.take(kept["rejected"]),
                }
            )

        self.write_split("preferences", table, self.test_mask(pair_prompts), pair_prompts)
        # Keyed by the pair's answers; what may change under that key are its numbers.
        self.add_keys(
            "preferences",
            pc.binary_join_element_wise(prompt_text, chosen_text, rejected_text, scalar(":")),
            pc.binary_join_element_wise(
                *(
                    columns[name].cast(text)
                    for name in ("chosen_rank", "rejected_rank", "margin", "rankers")
                ),
                pc.fill_null(columns["agreement"].cast(text), scalar("")),
                scalar("|"),
            ),
        )

    @staticmethod
    def pair_wins(
        chunk: Chunk, consensus: pa.Table, chosen_index: pa.Array, rejected_index: pa.Array
    ) -> pa.Array:
        """How many rankers put each chosen answer above its rejected one: the consensus
        row's ``{"chosen>rejected": n}`` entry (0 when absent), as floats. Entries are read
        only for answers of the row's own prompt, and matched by answer index (chosen index
        times the chunk's answer count, plus rejected index)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        # '{"3>1": 2, "3>2": 0}' -> '3>1>2>3>2>0' -> triples; keys and counts are numbers,
        # which jsonb and json.dumps write without escapes.
        wins = column(consensus, "wins")
        for old, new in (('"', ""), (": ", ">"), (", ", ">")):
            wins = pc.replace_substring(wins, old, new)
        parts = pc.split_pattern(pc.utf8_trim(wins, "{}"), ">")
        values, rows = pc.list_flatten(parts), pc.list_parent_indices(parts)
        present = pc.not_equal(values, scalar(""))
        triples = pa.FixedSizeListArray.from_arrays(values.filter(present), 3)
        rows = pc.list_element(
            pa.FixedSizeListArray.from_arrays(rows.filter(present), 3), scalar(0)
        )
        prompts = column(consensus, "prompt_id").take(rows)
        answers = scalar(len(chunk.response_ids))
        index = [
            pc.index_in(
                pc.list_element(triples, scalar(i)).cast(pa.int64()), value_set=chunk.response_ids
            )
            for i in (0, 1)
        ]
        own = pc.fill_null(
            pc.and_(
                pc.equal(chunk.response_prompts.take(index[0]), prompts),
                pc.equal(chunk.response_prompts.take(index[1]), prompts),
            ),
            scalar(False),
        )
        keys = pc.add(pc.multiply(index[0].cast(pa.int64()), answers), index[1]).filter(own)
        counts = pc.list_element(triples, scalar(2)).cast(pa.float64()).filter(own)
        pairs = pc.add(pc.multiply(chosen_index.cast(pa.int64()), answers), rejected_index)
        return pc.fill_null(counts.take(pc.index_in(pairs, value_set=keys)), scalar(0.0))

    # --- after the passes -----------------------------------------------------------------

    def abort_writers(self) -> None:
        """After a failure: close every shard still open (``SplitWriter.abort``)."""
        for writer in self.writers.values():
            writer.abort()

    def close_writers(self) -> dict[str, dict[str, int]]:
        """Close every split's writer; returns the rows of each config and split, and keeps
        their sizes (``sizes``: ``arrow`` in memory, ``files`` on disk) for the card."""
        rows: dict[str, dict[str, int]] = {config: {} for config in CONFIGS}
        self.sizes = {"arrow": {config: {} for config in CONFIGS}}
        self.sizes["files"] = {config: {} for config in CONFIGS}
        for (config, split), writer in self.writers.items():
            writer.close()
            rows[config][split] = writer.rows
            self.sizes["arrow"][config][split] = writer.arrow_bytes
            self.sizes["files"][config][split] = writer.file_bytes
        return rows

    def write_keys(self) -> dict[str, pa.Table]:
        """Each config's row keys and digests (``key``, ``digest``), kept privately so the
        next release can say what was added, removed or changed. (Releases built before
        digests were kept have ``key`` alone: see ``building._changes``.)"""
        import pyarrow.parquet as pq

        pa = self.pa
        folder = self.folder / PRIVATE_DIR / "keys"
        folder.mkdir(parents=True, exist_ok=True)
        tables = {}
        for config in CONFIGS:
            kind = pa.string() if config == "preferences" else pa.int64()
            # Chunked, not concatenated: a copy of every key at the build's peak of memory.
            table = pa.table(
                {
                    "key": pa.chunked_array(self.keys[config], type=kind),
                    "digest": pa.chunked_array(self.digests[config], type=pa.string()),
                }
            )
            pq.write_table(table, folder / f"{config}.parquet", **PARQUET_OPTIONS)
            tables[config] = table
        return tables

    def counts(self, rows: dict[str, dict[str, int]]) -> dict[str, Any]:
        def merge(counters: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
            keys = sorted(set(counters["prompts"]) | set(counters["sft"]))
            return {
                key: {"prompts": counters["prompts"][key], "sft": counters["sft"][key]}
                for key in keys
            }

        # Over the prompts whose preference pairs are in the release: ``prompts`` with a
        # measured agreement, of ``preference_prompts``.
        agreement: dict[str, Any] = {
            "prompts": len(self.agreements),
            "preference_prompts": self.preference_prompts,
            "mean": None,
            "median": None,
        }
        if self.agreements:
            agreement["mean"] = round(statistics.fmean(self.agreements), 6)
            agreement["median"] = round(statistics.median(self.agreements), 6)
        return {
            "rows": rows,
            "split_prompts": self.split_prompts,
            "bytes": self.sizes.get("arrow", {}),
            "file_bytes": self.sizes.get("files", {}),
            "categories": merge(self.by_category),
            "languages": merge(self.by_language),
            "contributors": len(self.contributors),
            "agreement": agreement,
            "licences": self.licences,
            "prompt_licences": self.prompt_licences,
            "sources": self.sources,
        }

    def attributed_names(self) -> list[str]:
        """Display names of contributors who opted into attribution (sorted, unique)."""
        ids = sorted(self.contributors)
        names: set[str] = set()
        for start in range(0, len(ids), BATCH_ROWS):
            names.update(
                User.objects.filter(pk__in=ids[start : start + BATCH_ROWS], attribution=True)
                .exclude(display_name="")
                .values_list("display_name", flat=True)
            )
        return sorted(names, key=lambda name: (name.casefold(), name))
