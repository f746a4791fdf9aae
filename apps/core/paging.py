"""Rows as Django's Paginator (and DRF's pagination over it) pages them: a ``count()`` and
slices, without being a QuerySet.

``Pages`` is the protocol's plumbing; ``IdsFirst`` reads a deep page of a long list in two
steps: the page's ids, from an index alone, then those rows whole. Sliced directly, a page far
down a power user's 14,000 answers made PostgreSQL fetch, join and sort every one of them to
skip all but twenty.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar, overload

from django.db.models import Model, QuerySet

T = TypeVar("T")
M = TypeVar("M", bound=Model)


class Pages(Generic[T]):
    """A sequence Paginator accepts: subclasses say how many rows there are and read a
    slice of them (one query each)."""

    capped = False

    def count(self) -> int:
        raise NotImplementedError

    def _rows(self, index: slice) -> list[T]:
        raise NotImplementedError

    def __len__(self) -> int:
        return self.count()

    def __iter__(self) -> Iterator[T]:
        return iter(self[:])

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> list[T]: ...
    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return self._rows(index)
        if index < 0:
            index += self.count()
        rows = self._rows(slice(index, index + 1)) if index >= 0 else []
        if not rows:
            raise IndexError(index)
        return rows[0]


class IdsFirst(Pages[M]):
    """``rows`` (an ordered QuerySet, with its select_related, annotations and prefetches),
    each slice read as its ids first, then those rows. The ids come from an index that
    holds the filter's and the order's columns without reading the rows they skip."""

    def __init__(self, rows: QuerySet[M]) -> None:
        self.rows = rows
        self._count: int | None = None

    def count(self) -> int:
        if self._count is None:
            self._count = self.rows.count()
        return self._count

    def _rows(self, index: slice) -> list[M]:
        ids = list(self.rows.values_list("pk", flat=True)[index])
        found = self.rows.order_by().in_bulk(ids)
        return [found[pk] for pk in ids if pk in found]
