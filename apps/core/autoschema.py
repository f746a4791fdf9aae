"""The project's drf-spectacular AutoSchema (``DEFAULT_SCHEMA_CLASS``). Apart from
apps.core.schema, which imports drf-spectacular's views, which import this class."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiParameter
from rest_framework.permissions import SAFE_METHODS

from apps.core.idempotency import FORM_PREFIX, MAX_KEY_LENGTH

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    OpenApiParameter.HEADER,
    description=(
        "Makes a retry safe: a request repeated with the same key (after a timeout, say) "
        "answers what the first one answered and creates nothing new. Use a fresh random key, "
        "a UUID say, for each new request (printable characters, not starting with "
        f'"{FORM_PREFIX}"). The same key with a different request is a 422; while the first '
        "is still running, a 409."
    ),
)
IDEMPOTENT_REPLAYED = OpenApiParameter(
    "Idempotent-Replayed",
    {"type": "string", "enum": ["true"]},
    OpenApiParameter.HEADER,
    response=True,
    description="Sent on a retry's answer: what the first request with this key answered.",
)


class AutoSchema(SpectacularAutoSchema):
    """drf-spectacular's, for clients generated from the schema: one media type a body, the
    headers of the POSTs made safe to retry by ``apps.core.api.idempotent`` (found from the
    handler, so no endpoint can leave them out), and reads open to anyone marked as such."""

    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        handler = getattr(self.view, self.method.lower(), None)
        if getattr(handler, "idempotent", False):
            parameters += [IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED]
        return parameters

    def map_parsers(self) -> list[str]:
        """The media type of the view's first parser only: JSON for every endpoint but the
        import's upload (multipart). The endpoints also read forms, but a client generated from
        a schema offering all three (openapi-python-client) wrote modules that did not import
        and sent every body as multipart, which cannot carry lists or objects."""
        return super().map_parsers()[:1]

    def get_auth(self) -> list[Any]:
        """drf-spectacular marks a read open to anonymous callers (``{}``) only for AllowAny
        and IsAuthenticatedOrReadOnly. Here also for a view with no permission classes, and
        for one whose every permission says ``anonymous_reads`` (Hearth's "anyone reads,
        maintainers write" ones), as their GETs answer without credentials."""
        auths = list(super().get_auth())
        if {} in auths or self.method not in SAFE_METHODS:
            return auths
        if all(getattr(p, "anonymous_reads", False) for p in self.view.get_permissions()):
            auths.append({})
        return auths


def doc_excludes() -> list[type]:
    """``GET_LIB_DOC_EXCLUDES``: drf-spectacular's, and Hearth's mixins. A view or serializer
    with no docstring of its own took a mixin's, written for Hearth's developers ("Mixed into
    an API view…"), as its description in the schema and the API docs."""
    from drf_spectacular.plumbing import get_lib_doc_excludes

    from apps.core.fields import RefusesUnknownFields
    from apps.core.throttling import ThrottledWrites

    return [*get_lib_doc_excludes(), RefusesUnknownFields, ThrottledWrites]


def any_value_may_be_null(result: Any, generator: Any, request: Any, public: bool) -> Any:
    """A postprocessing hook: a nullable field of any JSON value (a JSONField with
    ``allow_null``) comes out of drf-spectacular in OpenAPI 3.1 as ``oneOf: [{}, null]``, which
    no value satisfies, as null matches both. It is ``{}`` (any value, null included)."""

    def mend(node: Any) -> Any:
        if isinstance(node, list):
            return [mend(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = {key: mend(value) for key, value in node.items()}
        if node.get("oneOf") == [{}, {"type": "null"}]:
            del node["oneOf"]
        return node

    return mend(result)
