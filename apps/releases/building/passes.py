"""One build attempt's passes over the data: prompts, answers, then ranked prompts in chunks;
the rows of each config assembled as Arrow tables, split by prompt, counted and keyed."""

from __future__ import annotations

import bisect
import logging
import statistics
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import combinations
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from django.conf import settings

from apps.accounts.models import User
from apps.collection.models import PromptState
from apps.feedback.models import PromptConsensus, Ranking
from apps.releases.building.layout import (
    CONFIGS,
    DOLLY_PATH,
    PARQUET_OPTIONS,
    PRIVATE_DIR,
    SPLITS,
    hash_position,
    pseudonym,
    release_schemas,
    test_threshold,
)
from apps.releases.building.queries import (
    PROMPT_COLUMNS,
    SFT_COLUMNS,
    chunk_queries,
    consensus_filter,
    prompts_query,
    rankings_filter,
    sft_query,
)
from apps.releases.building.streams import (
    BATCH_ROWS,
    OrmReader,
    Pipeline,
    PostgresReader,
    SplitWriter,
    dolly_bytes,
    json_value,
    string_bytes,
)
from apps.releases.models import Release, ReleaseState

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

# Ranked prompts per round of rankings/preferences queries.
PROMPT_CHUNK = 2_000
# Progress is written to the Release row at most once per this many source rows.
PROGRESS_EVERY = 20_000

Progress = Callable[[int, int], None]


class BuildSuperseded(Exception):
    """Another build attempt claimed this release; this one stops and leaves it alone."""


class Fetched(NamedTuple):
    """The rows of one chunk of ranked prompts (see ``chunk_queries``)."""

    prompts: list[tuple[Any, ...]]
    responses: list[tuple[Any, ...]]
    rankings: list[tuple[Any, ...]]
    consensus: list[tuple[Any, ...]]


class Chunk:
    """The texts of a chunk of ranked prompts as Arrow arrays, and where each prompt's
    answers are: ``answers[prompt_id] = (start, {response_id: index})``, the answers being
    ``texts[start : start + len(index)]`` in id order. Prompts with fewer than two answers
    that enter have no entry: they give no rankings and no pairs."""

    def __init__(
        self, pa: Any, prompt_rows: list[tuple[Any, ...]], response_rows: list[tuple[Any, ...]]
    ) -> None:
        self.prompt_index = {row[0]: index for index, row in enumerate(prompt_rows)}
        self.prompt_ids = pa.array([row[0] for row in prompt_rows], pa.int64())
        self.instructions = pa.array([row[1] for row in prompt_rows], pa.string())
        self.contexts = pa.array([row[2] for row in prompt_rows], pa.string())
        self.texts = pa.array([row[2] for row in response_rows], pa.string())
        groups: dict[int, tuple[int, dict[int, int]]] = {}
        for index, (prompt_id, response_id, _text) in enumerate(response_rows):
            entry = groups.get(prompt_id)
            if entry is None:
                entry = groups[prompt_id] = (index, {})
            entry[1][response_id] = index - entry[0]
        self.answers: dict[int, tuple[int, dict[int, int]]] = {
            pid: entry for pid, entry in groups.items() if len(entry[1]) >= 2
        }


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
        self.threshold = test_threshold(self.flt.test_share)
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
        self.keys: dict[str, list[Any]] = {config: [] for config in CONFIGS}
        self.by_category: dict[str, Counter[str]] = {"prompts": Counter(), "sft": Counter()}
        self.by_language: dict[str, Counter[str]] = {"prompts": Counter(), "sft": Counter()}
        self.contributors: set[int] = set()
        self.agreements: list[float] = []
        self.ranked_prompts: list[Any] = []
        self.done = 0
        self.total = 0
        self._reported = 0
        # Filled by the prompts pass: test-split prompt ids (a small share), and every prompt
        # id seen, kept compactly (sorted, searched by bisection).
        self.test_ids: set[int] = set()
        self._test_array: pa.Array | None = None
        self.seen_ids = SortedIds(complete=isinstance(reader, PostgresReader))
        self._pseudonyms: dict[int, str] = {}
        (folder / "dolly").mkdir(parents=True, exist_ok=True)
        self.dolly = open(folder / DOLLY_PATH, "wb")  # noqa: SIM115

    # --- helpers --------------------------------------------------------------------------

    def is_test(self, prompt_id: int) -> bool:
        return prompt_id in self.test_ids or (
            prompt_id not in self.seen_ids and hash_position(prompt_id) < self.threshold
        )

    def test_mask(self, prompt_ids: pa.Array) -> pa.Array:
        """Which rows are in the test split. The prompts pass hashed every prompt once; a
        prompt it did not see (the ORM path reads no snapshot) is hashed here."""
        import pyarrow.compute as pc

        pa = self.pa
        if self._test_array is None or len(self._test_array) != len(self.test_ids):
            self._test_array = pa.array(sorted(self.test_ids), pa.int64())
        mask = pc.is_in(prompt_ids, value_set=self._test_array)
        if self.seen_ids.complete:
            return mask
        unseen = [pid for pid in pc.unique(prompt_ids).to_pylist() if pid not in self.seen_ids]
        extra = [pid for pid in unseen if hash_position(pid) < self.threshold]
        if extra:
            mask = pc.or_(mask, pc.is_in(prompt_ids, value_set=pa.array(extra, pa.int64())))
        return mask

    def pseudonym(self, user_id: int) -> str:
        value = self._pseudonyms.get(user_id)
        if value is None:
            value = self._pseudonyms[user_id] = pseudonym(user_id)
        return value

    def write_split(self, config: str, table: pa.Table, test: pa.Array) -> None:
        import pyarrow.compute as pc

        schema = self.schemas[config]
        if not table.schema.equals(schema):
            table = table.cast(schema)
        tests = pc.sum(test).as_py() or 0
        if tests == 0:
            self.writers[config, "train"].write(table)
        elif tests == len(table):
            self.writers[config, "test"].write(table)
        else:
            self.writers[config, "test"].write(table.filter(test))
            self.writers[config, "train"].write(table.filter(pc.invert(test)))

    def advance(self, rows: int) -> None:
        self.done += rows
        if self.done - self._reported >= PROGRESS_EVERY:
            self.report()
        if self.callback is not None:
            self.callback(self.done, self.total)

    def report(self) -> None:
        self._reported = self.done
        updated = Release.objects.filter(
            pk=self.release.pk, state=ReleaseState.BUILDING, build_token=self.token
        ).update(progress_done=self.done, progress_total=max(self.total, self.done))
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
        self.total = (
            self.reader.count(prompts_qs)
            + self.reader.count(sft_qs)
            + self.reader.count(Ranking.objects.filter(rankings_filter(flt)))
            + self.reader.count(PromptConsensus.objects.filter(consensus_filter(flt)))
        )
        self.report()
        text, int64 = pa.string(), pa.int64()
        for batch in self.reader.stream(
            prompts_qs, PROMPT_COLUMNS, (int64, text, text, text, text, text, int64)
        ):
            self.on_prompts(batch)
        sft_columns = (*SFT_COLUMNS, "dolly_line") if server_json else SFT_COLUMNS
        sft_types = (int64, text, text, text, text, text, text, int64, int64, text)
        for batch in self.reader.stream(sft_qs, sft_columns, sft_types[: len(sft_columns)]):
            self.on_sft(batch)
        self.dolly.close()
        ranked = pa.concat_arrays(self.ranked_prompts).to_pylist() if self.ranked_prompts else []
        bounds = [
            (ranked[start], ranked[min(start + PROMPT_CHUNK, len(ranked)) - 1])
            for start in range(0, len(ranked), PROMPT_CHUNK)
        ]
        for fetched in self.fetch_chunks(bounds):
            self.on_ranked_chunk(fetched)
        self.report()

    def fetch_chunk(self, first: int, last: int) -> Fetched:
        queries = chunk_queries(self.flt, first, last)
        prompts, responses, rankings, consensus = (self.reader.fetch(qs) for qs in queries)
        return Fetched(prompts, responses, rankings, consensus)

    def fetch_chunks(self, bounds: list[tuple[int, int]]) -> Iterator[Fetched]:
        """Each chunk's rows in turn. On PostgreSQL the next chunk is fetched in a thread
        while this one is processed (the reader's connection is used by that thread alone);
        Django's connections belong to their thread, so the ORM path fetches in turn."""
        if not isinstance(self.reader, PostgresReader) or len(bounds) < 2:
            for first, last in bounds:
                yield self.fetch_chunk(first, last)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="release-reader") as pool:
            future = pool.submit(self.fetch_chunk, *bounds[0])
            for following in bounds[1:]:
                fetched = future.result()
                future = pool.submit(self.fetch_chunk, *following)
                yield fetched
            yield future.result()

    def on_prompts(self, batch: pa.RecordBatch) -> None:
        import pyarrow.compute as pc

        ids = batch.column("id")
        id_list = ids.to_pylist()
        self.seen_ids.extend(id_list)
        threshold = self.threshold
        test = [pid for pid in id_list if hash_position(pid) < threshold]
        self.test_ids.update(test)
        table = self.pa.Table.from_batches([batch]).select(list(self.schemas["prompts"].names))
        self.write_split(
            "prompts", table, pc.is_in(ids, value_set=self.pa.array(test, self.pa.int64()))
        )
        self.count_values(self.by_category["prompts"], batch.column("category"))
        self.count_values(self.by_language["prompts"], batch.column("language"))
        self.contributors.update(pc.unique(batch.column("author_id")).to_pylist())
        ranked = pc.is_in(
            batch.column("state"),
            value_set=self.pa.array([PromptState.RANKING.value, PromptState.COMPLETE.value]),
        )
        self.ranked_prompts.append(ids.filter(ranked))
        self.keys["prompts"].append(ids)
        self.advance(batch.num_rows)

    def on_sft(self, batch: pa.RecordBatch) -> None:
        import pyarrow.compute as pc

        table = self.pa.Table.from_batches([batch]).select(list(self.schemas["sft"].names))
        self.write_split("sft", table, self.test_mask(batch.column("prompt_id")))
        if "dolly_line" in batch.schema.names:
            self.dolly.write(string_bytes(batch.column("dolly_line")))
        else:
            self.dolly.write(dolly_bytes(batch))
        self.count_values(self.by_category["sft"], batch.column("category"))
        self.count_values(self.by_language["sft"], batch.column("language"))
        self.contributors.update(pc.unique(batch.column("author_id")).to_pylist())
        self.keys["sft"].append(batch.column("id"))
        self.advance(batch.num_rows)

    def on_ranked_chunk(self, fetched: Fetched) -> None:
        """Rankings and preference pairs of a chunk of ranked prompts.

        Texts become Arrow arrays once per chunk (one entry per prompt or answer); rows are
        assembled from integer indices into them with ``take``, so a text repeated on many
        rows costs no Python per row.
        """
        chunk = Chunk(self.pa, fetched.prompts, fetched.responses)
        self.emit_rankings(chunk, fetched.rankings)
        self.emit_preferences(chunk, fetched.consensus)
        self.advance(len(fetched.rankings) + len(fetched.consensus))

    def emit_rankings(self, chunk: Chunk, rankings: list[tuple[Any, ...]]) -> None:
        """One row per usable ranking, projected onto the response set that enters (accepted,
        live answers in id order). A ranking that does not order that whole set (it ranked a
        different set) is left out, as is any prompt with fewer than two answers left."""
        pa = self.pa
        rows: list[int] = []  # prompt index of each row
        answer_offsets: list[int] = [0]
        answer_take: list[int] = []
        order_offsets: list[int] = [0]
        order_values: list[int] = []
        rankers: list[str] = []
        keys: list[int] = []
        tests: list[bool] = []
        split_of: dict[int, bool] = {}
        for prompt_id, ranking_id, ranker_id, order in rankings:
            answers = chunk.answers.get(prompt_id)
            if answers is None:
                continue
            start, position = answers
            projected = [position[i] for i in json_value(order) if i in position]
            if len(projected) != len(position) or len(set(projected)) != len(position):
                continue
            rows.append(chunk.prompt_index[prompt_id])
            answer_take.extend(range(start, start + len(position)))
            answer_offsets.append(len(answer_take))
            order_values.extend(projected)
            order_offsets.append(len(order_values))
            rankers.append(self.pseudonym(ranker_id))
            keys.append(ranking_id)
            is_test = split_of.get(prompt_id)
            if is_test is None:
                is_test = split_of[prompt_id] = self.is_test(prompt_id)
            tests.append(is_test)
            self.contributors.add(ranker_id)
        if not rows:
            return
        take = pa.array(rows, pa.int32())
        table = pa.table(
            {
                "prompt_id": chunk.prompt_ids.take(take),
                "instruction": chunk.instructions.take(take),
                "context": chunk.contexts.take(take),
                "responses": pa.ListArray.from_arrays(
                    pa.array(answer_offsets, pa.int32()),
                    chunk.texts.take(pa.array(answer_take, pa.int32())),
                ),
                "ranker": pa.array(rankers, pa.string()),
                "order": pa.ListArray.from_arrays(
                    pa.array(order_offsets, pa.int32()), pa.array(order_values, pa.int64())
                ),
            }
        )
        self.write_split("rankings", table, pa.array(tests, pa.bool_()))
        self.keys["rankings"].append(pa.array(keys, pa.int64()))

    def emit_preferences(self, chunk: Chunk, consensus: list[tuple[Any, ...]]) -> None:
        """One row per pair of each complete prompt's consensus order, restricted to the
        answers that enter; ranks are positions in that restricted order (1 is best) and the
        margin is the share of rankers who put the chosen answer above the rejected one.
        Unusable prompts, and prompts under ``min_agreement`` (or with no agreement while a
        minimum is set), give no pairs."""
        import pyarrow.compute as pc

        pa = self.pa
        minimum = self.flt.min_agreement
        # Per pair: the prompt's row, chosen and rejected answer (ids and indices into the
        # texts), ranks and margin; per prompt (repeated over its pairs in Arrow): rankers,
        # agreement, split.
        rows: list[int] = []
        chosen_ids: list[int] = []
        rejected_ids: list[int] = []
        chosen_take: list[int] = []
        rejected_take: list[int] = []
        chosen_ranks: list[int] = []
        rejected_ranks: list[int] = []
        margins: list[float] = []
        pairs_of: list[int] = []
        rankers_of: list[int] = []
        agreement_of: list[float | None] = []
        test_of: list[bool] = []
        for prompt_id, order, wins, rankers, agreement in consensus:
            order = json_value(order) or []
            if not order:
                continue
            if agreement is not None:
                self.agreements.append(float(agreement))
            if minimum is not None and (agreement is None or agreement < minimum):
                continue
            answers = chunk.answers.get(prompt_id)
            if answers is None:
                continue
            start, position = answers
            kept = [i for i in order if i in position]
            pairs = list(combinations(range(len(kept)), 2))
            if not pairs:
                continue
            wins = json_value(wins) or {}
            takes = [start + position[i] for i in kept]
            rows.extend([chunk.prompt_index[prompt_id]] * len(pairs))
            chosen_ids.extend([kept[i] for i, _ in pairs])
            rejected_ids.extend([kept[j] for _, j in pairs])
            chosen_take.extend([takes[i] for i, _ in pairs])
            rejected_take.extend([takes[j] for _, j in pairs])
            chosen_ranks.extend([i + 1 for i, _ in pairs])
            rejected_ranks.extend([j + 1 for _, j in pairs])
            if rankers:
                margins.extend([wins.get(f"{kept[i]}>{kept[j]}", 0) / rankers for i, j in pairs])
            else:
                margins.extend([0.0] * len(pairs))
            pairs_of.append(len(pairs))
            rankers_of.append(rankers)
            agreement_of.append(agreement)
            test_of.append(self.is_test(prompt_id))
        if not rows:
            return
        take = pa.array(rows, pa.int32())
        # Index of each pair's prompt among the prompts that gave pairs.
        per_prompt = pa.array(
            [index for index, count in enumerate(pairs_of) for _ in range(count)], pa.int32()
        )
        prompt_ids = chunk.prompt_ids.take(take)
        chosen = pa.array(chosen_ids, pa.int64())
        rejected = pa.array(rejected_ids, pa.int64())
        table = pa.table(
            {
                "prompt_id": prompt_ids,
                "instruction": chunk.instructions.take(take),
                "context": chunk.contexts.take(take),
                "chosen": chunk.texts.take(pa.array(chosen_take, pa.int32())),
                "rejected": chunk.texts.take(pa.array(rejected_take, pa.int32())),
                "chosen_rank": pa.array(chosen_ranks, pa.int64()),
                "rejected_rank": pa.array(rejected_ranks, pa.int64()),
                "margin": pa.array(margins, pa.float64()),
                "rankers": pa.array(rankers_of, pa.int64()).take(per_prompt),
                "agreement": pa.array(agreement_of, pa.float64()).take(per_prompt),
            }
        )
        self.write_split("preferences", table, pa.array(test_of, pa.bool_()).take(per_prompt))
        text = pa.string()
        self.keys["preferences"].append(
            pc.binary_join_element_wise(
                prompt_ids.cast(text), chosen.cast(text), rejected.cast(text), ":"
            )
        )

    # --- after the passes -----------------------------------------------------------------

    def close_writers(self) -> dict[str, dict[str, int]]:
        rows: dict[str, dict[str, int]] = {config: {} for config in CONFIGS}
        for (config, split), writer in self.writers.items():
            writer.close()
            rows[config][split] = writer.rows
        return rows

    def write_keys(self) -> dict[str, pa.Array]:
        """Each config's row keys, kept privately so the next release can say what changed."""
        import pyarrow.parquet as pq

        pa = self.pa
        folder = self.folder / PRIVATE_DIR / "keys"
        folder.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for config in CONFIGS:
            kind = pa.string() if config == "preferences" else pa.int64()
            chunks = self.keys[config]
            array = pa.concat_arrays(chunks) if chunks else pa.array([], kind)
            pq.write_table(
                pa.table({"key": array}), folder / f"{config}.parquet", **PARQUET_OPTIONS
            )
            arrays[config] = array
        return arrays

    def counts(self, rows: dict[str, dict[str, int]]) -> dict[str, Any]:
        def merge(counters: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
            keys = sorted(set(counters["prompts"]) | set(counters["sft"]))
            return {
                key: {"prompts": counters["prompts"][key], "sft": counters["sft"][key]}
                for key in keys
            }

        agreement: dict[str, Any] = {"prompts": len(self.agreements), "mean": None, "median": None}
        if self.agreements:
            agreement["mean"] = round(statistics.fmean(self.agreements), 6)
            agreement["median"] = round(statistics.median(self.agreements), 6)
        return {
            "rows": rows,
            "categories": merge(self.by_category),
            "languages": merge(self.by_language),
            "contributors": len(self.contributors),
            "agreement": agreement,
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
