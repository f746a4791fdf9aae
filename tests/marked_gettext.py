"""Tell a message that goes through gettext from one that does not, before the catalogue has
it: inside ``marked_gettext()``, gettext returns every message in « », so a message built
from a translatable one comes out marked and a bare f-string does not."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

from django.utils import translation


@contextmanager
def marked_gettext() -> Iterator[None]:
    real = translation._trans.gettext  # type: ignore[attr-defined]

    def mark(message: str) -> str:
        return f"«{real(message)}»"

    with mock.patch.object(translation._trans, "gettext", mark):  # type: ignore[attr-defined]
        yield
