"""The API's content negotiation, in a module of its own: DRF resolves
``DEFAULT_CONTENT_NEGOTIATION_CLASS`` while it defines ``APIView``, so the class must live
where importing it does not import ``rest_framework.views`` (``apps.core.api`` does: a
process whose first import of DRF's views came through it failed with a circular import; seen
in the GPU worker under Celery's Django fixup)."""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class JsonNegotiation(DefaultContentNegotiation):
    """Answers in JSON whatever the Accept header asks, as DRF's documentation shows for views
    with one renderer; every API view has only the JSON one. DRF's own negotiation answered
    ``Accept: text/html`` (a browser's, a curl alias's) with a 406 on most endpoints, and
    matching Accept took about 2% of a task request's CPU. The schema view, with its YAML and
    JSON renderers, keeps DRF's negotiation."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type
