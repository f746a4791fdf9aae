"""Reading rows out of the database and writing them into Parquet and JSONL files.

Reading: on PostgreSQL, ``COPY (SELECT …) TO STDOUT (FORMAT csv)`` on a second connection,
parsed by pyarrow's streaming CSV reader into record batches (no Python object per row or
field); elsewhere ``.values_list().iterator()`` in batches. Writing: fixed-size row groups
encoded and compressed on a background thread, shards named ``-of-N`` at the end.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future
from contextlib import closing, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from django.db import connection, connections
from django.db.models import QuerySet

from apps.releases.building.arrays import values_array
from apps.releases.building.layout import DOLLY_KEYS, PARQUET_OPTIONS, ROW_GROUP_ROWS

if TYPE_CHECKING:
    import pyarrow as pa

Method = Literal["auto", "copy", "orm"]
T = TypeVar("T")
# Rows per fetch on the ORM path.
BATCH_ROWS = 10_000
# Bytes of CSV per record batch on the COPY path.
CSV_BLOCK_BYTES = 2 << 20


def json_value(value: Any) -> Any:
    """A JSON column's value: Django's adapters hand jsonb over as text, the ORM decoded."""
    return json.loads(value) if isinstance(value, str | bytes) else value


class OrmReader:
    """Reads through Django's connection: ``.values_list().iterator()`` in batches."""

    def stream(
        self, qs: QuerySet[Any, Any], columns: Sequence[str], types: Sequence[pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        rows: list[tuple[Any, ...]] = []
        for row in qs.iterator(chunk_size=BATCH_ROWS):
            rows.append(row)
            if len(rows) == BATCH_ROWS:
                yield _batch_from_rows(pa, rows, columns, types)
                rows = []
        if rows:
            yield _batch_from_rows(pa, rows, columns, types)

    def fetch(self, qs: QuerySet[Any, Any]) -> list[tuple[Any, ...]]:
        return list(qs)

    def count_later(self, querysets: Sequence[QuerySet[Any, Any]]) -> Future[int]:
        """The rows of all ``querysets``, counted now (Django's connection is this thread's)."""
        future: Future[int] = Future()
        future.set_result(sum(qs.count() for qs in querysets))
        return future

    def beside(self) -> OrmReader:
        """This reader: Django's connection reads while its own iterator is open."""
        return self

    def write(self, write: Callable[[], T]) -> T:
        """``write()``, which writes through the ORM, while a stream of this reader may be
        open on Django's connection.

        On SQLite an open SELECT holds a read snapshot on its connection: once another
        connection has committed since it began, a write on this one fails at once with
        "database is locked" (SQLITE_BUSY_SNAPSHOT, which the busy timeout does not wait
        out). There it runs in a thread of its own, on a connection of its own, which waits
        for the write lock as any other. It runs on this connection inside a transaction
        (which holds the write lock on SQLite, and whose rows another connection could not
        see) and on other databases."""
        if connection.vendor != "sqlite" or connection.in_atomic_block:
            return write()
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="release-write") as pool:
            return pool.submit(_on_own_connection, write).result()

    def close(self) -> None:
        pass


def _on_own_connection(call: Callable[[], T]) -> T:
    """``call()`` in a thread of a pool, whose Django connection closes when it returns."""
    try:
        return call()
    finally:
        connections.close_all()


def table_from_rows(
    rows: Sequence[tuple[Any, ...]], columns: Sequence[str], types: Sequence[pa.DataType]
) -> pa.Table:
    import pyarrow as pa

    if not rows:
        return pa.table({c: values_array([], t) for c, t in zip(columns, types, strict=True)})
    return pa.Table.from_batches([_batch_from_rows(pa, rows, columns, types)])


def _batch_from_rows(
    pa: Any, rows: Sequence[tuple[Any, ...]], columns: Sequence[str], types: Sequence[Any]
) -> Any:
    arrays = [values_array(col, t) for col, t in zip(zip(*rows, strict=True), types, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, names=list(columns))


class CopyStream(io.RawIOBase):
    """A file-like view of blocks of bytes (``copy_blocks``) for pyarrow's CSV reader."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._rest = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        parts: list[Any] = [self._rest]
        have = len(self._rest)
        while (size < 0 or have < size) and not self._done:
            data = next(self._blocks, b"")
            if not data:
                self._done = True
                break
            parts.append(data)
            have += len(data)
        out = b"".join(parts)
        if 0 <= size < len(out):
            out, self._rest = out[:size], out[size:]
        else:
            self._rest = b""
        return out

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


COPY_BLOCK = 1 << 20
COPY_BLOCKS_AHEAD = 4


def copy_blocks(copy: Any) -> Generator[bytes, None, None]:
    """The rows of ``COPY … TO STDOUT`` joined into blocks of about ``COPY_BLOCK`` bytes.

    psycopg hands out one row per call, all of it Python; a thread does that, at most
    ``COPY_BLOCKS_AHEAD`` blocks ahead, while this one parses and writes the blocks before
    (pyarrow's work, which runs without the GIL). Closing the generator stops the thread."""
    import queue
    import threading

    blocks: queue.Queue[bytes | BaseException | None] = queue.Queue(COPY_BLOCKS_AHEAD)
    stop = threading.Event()

    def put(item: bytes | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                blocks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            parts: list[Any] = []
            have = 0
            for data in copy:
                parts.append(data)
                have += len(data)
                if have >= COPY_BLOCK:
                    if not put(b"".join(parts)):
                        return
                    parts, have = [], 0
            if parts and not put(b"".join(parts)):
                return
            put(None)
        except BaseException as exc:
            put(exc)

    thread = threading.Thread(target=read, name="release-copy", daemon=True)
    thread.start()
    try:
        while True:
            item = blocks.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


class PostgresReader:
    """A second connection holding one REPEATABLE READ, READ ONLY transaction: the whole
    build reads one snapshot. Big streams go through COPY and pyarrow's CSV reader.

    ``beside()`` opens another such connection on the same snapshot, for reading while this
    one streams (``snapshot``: the exported snapshot to import)."""

    def __init__(self, snapshot: str | None = None) -> None:
        import psycopg
        from psycopg import sql

        # Straight from Django's parameters (same server, database, adapters), but not through
        # Django: this connection must stay outside Django's transaction handling. Parameters
        # are bound in the client and nothing is prepared: each chunk query is planned for its
        # own range of prompts, where a prepared statement would settle on one generic plan.
        params = connection.get_connection_params()
        params["cursor_factory"] = psycopg.ClientCursor
        params["prepare_threshold"] = None
        self._conn = psycopg.connect(**params)
        self._conn.autocommit = False
        self._conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self._conn.read_only = True
        with self._conn.cursor() as cursor:
            if snapshot is not None:  # first, before any query of the transaction
                cursor.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(snapshot)))
            # JIT compilation only costs time on a plain scan.
            cursor.execute("SET LOCAL jit = off")
            # The chunk queries restrict each table to a range of prompts; PostgreSQL guesses
            # about one row per prompt there and walks the rows by nested loops (an index
            # probe per prompt, then per row for its author), where hash joins over one
            # range scan take half the time.
            cursor.execute("SET LOCAL enable_nestloop = off")
            if snapshot is None:
                # Other connections can read this same snapshot (see beside).
                cursor.execute("SELECT pg_export_snapshot()")
                row = cursor.fetchone()
                snapshot = str(row[0]) if row else ""
        self._snapshot = snapshot

    def beside(self) -> PostgresReader:
        """Another reader on this one's snapshot, to use while this one streams (its own
        connection, which the caller closes)."""
        return PostgresReader(self._snapshot)

    def write(self, write: Callable[[], T]) -> T:
        """``write()``, through Django's connection: this reader streams on its own."""
        return write()

    @staticmethod
    def _sql(qs: QuerySet[Any, Any]) -> tuple[str, tuple[Any, ...]]:
        sql, params = qs.query.get_compiler(connection=connection).as_sql()
        return sql, tuple(params)

    def stream(
        self, qs: QuerySet[Any, Any], columns: Sequence[str], types: Sequence[pa.DataType]
    ) -> Iterator[pa.RecordBatch]:
        import pyarrow.csv as pcsv

        sql, params = self._sql(qs)
        with (
            self._conn.cursor() as cursor,
            cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", params) as copy,
            # Stops the reading thread before the COPY ends, whatever ends it.
            closing(copy_blocks(copy)) as blocks,
        ):
            first = next(blocks, b"")
            if not first:
                return
            source = CopyStream(blocks)
            source._rest = first
            reader = pcsv.open_csv(
                io.BufferedReader(source, buffer_size=1 << 20),
                read_options=pcsv.ReadOptions(
                    column_names=list(columns), block_size=CSV_BLOCK_BYTES, use_threads=False
                ),
                parse_options=pcsv.ParseOptions(newlines_in_values=True),
                convert_options=pcsv.ConvertOptions(
                    column_types=dict(zip(columns, types, strict=True)),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            yield from reader

    def fetch(self, qs: QuerySet[Any, Any]) -> list[tuple[Any, ...]]:
        sql, params = self._sql(qs)
        with self._conn.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def count_later(self, querysets: Sequence[QuerySet[Any, Any]]) -> Future[int]:
        """The rows of all ``querysets``, counted in a thread on a second connection that reads
        this one's snapshot, while this one streams: the counts only size the progress bar,
        and waiting for them before the first row cost a second of a build."""
        from concurrent.futures import ThreadPoolExecutor

        statements = [self._sql(qs.order_by()) for qs in querysets]
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="release-count")
        try:
            return pool.submit(self._count_all, statements)
        finally:
            pool.shutdown(wait=False)

    def _count_all(self, statements: list[tuple[str, tuple[Any, ...]]]) -> int:
        counter = self.beside()
        try:
            with counter._conn.cursor() as cursor:
                total = 0
                for statement, params in statements:
                    cursor.execute(f"SELECT COUNT(*) FROM ({statement}) AS counted", params)
                    row = cursor.fetchone()
                    total += int(row[0]) if row else 0
        finally:
            counter.close()
        return total

    def close(self) -> None:
        try:
            self._conn.rollback()
        finally:
            self._conn.close()


def open_reader(method: Method) -> OrmReader | PostgresReader:
    if method == "copy" or (method == "auto" and connection.vendor == "postgresql"):
        if connection.vendor != "postgresql":
            raise ValueError("the COPY path needs PostgreSQL")
        return PostgresReader()
    return OrmReader()


class Pipeline:
    """One background thread for Parquet encoding and compression, which pyarrow runs without
    the GIL, while the main thread reads and assembles the next rows. Tasks run in the order
    given; at most ``depth`` wait, which bounds the memory they hold. A task's error is
    raised in the main thread at the next submit or drain."""

    def __init__(self, depth: int = 2) -> None:
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="release-writer")
        self._pending: deque[Future[None]] = deque()
        self._depth = depth

    def submit(self, task: Callable[..., None], *args: Any) -> None:
        self._pending.append(self._pool.submit(task, *args))
        while len(self._pending) > self._depth:
            self._pending.popleft().result()

    def drain(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class SplitWriter:
    """One config and split: buffers rows into fixed-size row groups and rolls over to a new
    shard every ``shard_rows`` rows."""

    def __init__(
        self,
        root: Path,
        config: str,
        split: str,
        schema: pa.Schema,
        shard_rows: int,
        pipeline: Pipeline,
    ):
        self.folder = root / "data" / config
        self.folder.mkdir(parents=True, exist_ok=True)
        self.split = split
        self.schema = schema
        self.shard_rows = shard_rows
        self.pipeline = pipeline
        self.rows = 0
        # The split's size in memory (``arrow_bytes``) and on disk, for the card's
        # ``dataset_info``: counted as rows are written, the files' once closed.
        self._values_bytes = 0
        self._with_nulls: set[str] = set()
        self.file_bytes = 0
        self._buffer: list[pa.Table] = []
        self._buffered = 0
        self._writer: Any = None
        self._in_shard = 0
        self._parts: list[Path] = []
        self._opened: list[Any] = []  # the shards' ParquetWriters, for abort

    def write(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        self._values_bytes += values_bytes(table)
        self._with_nulls.update(
            name
            for name, chunks in zip(table.column_names, table.columns, strict=True)
            if chunks.null_count
        )
        self._buffer.append(table)
        self._buffered += table.num_rows
        while self._buffered >= self._group_size():
            self._flush(self._group_size())

    def _group_size(self) -> int:
        return min(ROW_GROUP_ROWS, self.shard_rows - self._in_shard)

    def _flush(self, size: int) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.concat_tables(self._buffer)
        group, rest = table.slice(0, size), table.slice(size)
        self._buffer = [rest] if rest.num_rows else []
        self._buffered = rest.num_rows
        if self._writer is None:
            part = self.folder / f"{self.split}-{len(self._parts):05d}.parquet.part"
            self._parts.append(part)
            self._writer = pq.ParquetWriter(part, self.schema, **PARQUET_OPTIONS)
            self._opened.append(self._writer)
        self.pipeline.submit(_write_row_group, self._writer, group, size)
        self._in_shard += size
        self.rows += size
        if self._in_shard >= self.shard_rows:
            self._close_shard()

    def _close_shard(self) -> None:
        if self._writer is not None:
            self.pipeline.submit(self._writer.close)
            self._writer = None
        self._in_shard = 0

    def abort(self) -> None:
        """Close the shard being written after a failed build, whatever its state, so that
        its file is not held open once the folder is removed. (Crash QA: after a build failed
        on a full disk, the worker held the deleted shard open, and its space stayed used
        until the worker restarted.) Call it once the pipeline is shut down."""
        self._writer = None
        # Every shard's: one whose close the pipeline had not run yet was cancelled with it.
        for writer in self._opened:
            try:
                writer.close()  # a no-op for one closed already
            except Exception:  # the disk that failed the build may fail the footer too
                handle = getattr(writer, "file_handle", None)
                if handle is not None:
                    with suppress(Exception):
                        handle.close()
        self._opened = []

    def close(self) -> list[Path]:
        """Write what is left, name the shards ``<split>-0000i-of-0000N.parquet`` and return
        them. An empty split still gets one (empty) file, so every split can be loaded."""
        import pyarrow.parquet as pq

        while self._buffered:
            self._flush(min(self._buffered, self._group_size()))
        self._close_shard()
        self.pipeline.drain()
        if not self._parts:
            # No row group at all (not one empty row group, which `datasets` refuses).
            part = self.folder / f"{self.split}-00000.parquet.part"
            pq.ParquetWriter(part, self.schema, **PARQUET_OPTIONS).close()
            self._parts.append(part)
        total = len(self._parts)
        paths = []
        for index, part in enumerate(self._parts):
            path = self.folder / f"{self.split}-{index:05d}-of-{total:05d}.parquet"
            part.rename(path)
            paths.append(path)
        self.file_bytes = sum(path.stat().st_size for path in paths)
        return paths

    @property
    def arrow_bytes(self) -> int:
        """The split's size in memory, as ``pa.Table.nbytes`` gives it for the split's rows
        in one table (what ``datasets`` records as a split's ``num_bytes``, from the tables
        it loads): its values (``values_bytes``) and a validity bitmap for each column
        holding a null. A function of the rows alone, however they were read, so the card
        is the same bytes on either path."""
        bitmaps = len(self._with_nulls) * ((self.rows + 7) // 8)
        return self._values_bytes + bitmaps


def values_bytes(table: pa.Table) -> int:
    """The bytes ``table``'s values take in Arrow's memory layout as ``nbytes`` counts them,
    the same however the rows are cut into tables: 8 per int64 or float64, and per text or
    list its contents and 4 of offset (validity bitmaps: ``SplitWriter.arrow_bytes``)."""
    return sum(_column_bytes(chunks) for chunks in table.columns)


def _column_bytes(values: Any) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc

    type = values.type
    if pa.types.is_string(type) or pa.types.is_binary(type):
        return 4 * len(values) + int(pc.sum(pc.binary_length(values)).as_py() or 0)
    if pa.types.is_list(type):
        return 4 * len(values) + _column_bytes(pc.list_flatten(values))
    return len(values) * type.bit_width // 8


def _write_row_group(writer: Any, group: pa.Table, size: int) -> None:
    # One contiguous chunk per row group: the bytes never depend on how rows were fetched.
    writer.write_table(group.combine_chunks(), row_group_size=size)


# Python's json escapes these two by name and other control characters as \\u00XX.
_NAMED_CONTROLS = {"\b": "\\b", "\f": "\\f"}


def _json_string_body(column: pa.Array) -> pa.Array:
    """Each string escaped exactly as ``json.dumps(value, ensure_ascii=False)`` escapes it,
    without the quotes; vectorised, so a million answers cost no Python per row."""
    import pyarrow.compute as pc

    out = pc.replace_substring(column, "\\", "\\\\")
    out = pc.replace_substring(out, '"', '\\"')
    out = pc.replace_substring(out, "\n", "\\n")
    out = pc.replace_substring(out, "\r", "\\r")
    out = pc.replace_substring(out, "\t", "\\t")
    if pc.any(pc.match_substring_regex(out, "[\\x00-\\x1f]")).as_py():
        for code in range(0x20):
            char = chr(code)
            if char not in "\n\r\t":
                out = pc.replace_substring(out, char, _NAMED_CONTROLS.get(char, f"\\u{code:04x}"))
    return out


def dolly_bytes(batch: pa.RecordBatch | pa.Table) -> memoryview:
    """The rows as Dolly JSONL lines, byte for byte what ``json.dumps({key: row[column] for
    key, column in DOLLY_KEYS}, ensure_ascii=False)`` plus a newline gives."""
    import pyarrow.compute as pc

    parts: list[Any] = []
    for index, (key, name) in enumerate(DOLLY_KEYS):
        parts.append(("{" if index == 0 else '", ') + f'"{key}": "')
        parts.append(_json_string_body(batch.column(name)))
    lines = pc.binary_join_element_wise(*parts, '"}\n', "")
    return string_bytes(lines)


def string_bytes(array: pa.Array) -> memoryview:
    """The values of a string array back to back, straight from its data buffer."""
    if len(array) == 0:
        return memoryview(b"")
    _, offsets, data = array.buffers()
    positions = memoryview(offsets).cast("i")  # a string array's offsets are int32
    start, end = positions[array.offset], positions[array.offset + len(array)]
    return memoryview(data)[start:end]
