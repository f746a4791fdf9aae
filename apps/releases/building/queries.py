"""What enters a release, as querysets. The readers compile them to SQL (COPY on
PostgreSQL) or iterate them (elsewhere); nothing here runs a query itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import Count, Func, Q, QuerySet, TextField

from apps.collection.models import (
    ACCEPTED_PROMPT_STATES,
    Prompt,
    PromptState,
    Response,
    ResponseState,
    Source,
)
from apps.feedback.models import PromptConsensus, Ranking
from apps.releases.building.layout import DOLLY_KEYS
from apps.releases.models import ReleaseFilter

if TYPE_CHECKING:
    pass


def entering_prompt(flt: ReleaseFilter, prefix: str = "") -> Q:
    """Accepted (collecting, ranking or complete), live, visible, author not banned, and
    inside the filter's languages and categories."""
    q = Q(
        **{
            f"{prefix}state__in": list(ACCEPTED_PROMPT_STATES),
            f"{prefix}withdrawn_at__isnull": True,
            f"{prefix}hidden_at__isnull": True,
            f"{prefix}author__banned_at__isnull": True,
        }
    )
    if flt.languages:
        q &= Q(**{f"{prefix}language__in": list(flt.languages)})
    if flt.categories:
        q &= Q(**{f"{prefix}category__in": list(flt.categories)})
    return q


def entering_answer(flt: ReleaseFilter) -> Q:
    """Accepted, live, visible answers by authors not banned; written by a model only when
    the filter asks for them. Says nothing of the prompt (see ``entering_response``)."""
    q = Q(
        state=ResponseState.ACCEPTED,
        withdrawn_at__isnull=True,
        hidden_at__isnull=True,
        author__banned_at__isnull=True,
    )
    if not flt.include_model_written:
        q &= Q(source=Source.HUMAN)
    return q


def entering_response(flt: ReleaseFilter) -> Q:
    """Answers that enter (``entering_answer``) to prompts that enter."""
    return entering_answer(flt) & entering_prompt(flt, "prompt__")


# Digits of a row's digest (``RowDigest``): 64 bits of MD5.
DIGEST_CHARS = 16


class RowDigest(Func):
    """The first DIGEST_CHARS hex digits of the MD5 of its text fields joined, computed by
    the database (PostgreSQL's ``md5``, the ``MD5`` Django gives SQLite): the release keeps
    it beside the row's key, so that the next one can tell a row whose content changed under
    the same key (data QA: 95 rankings and 80 pairs changed between two versions,
    unreported). The fields are text and never null, so they are joined with ``||`` alone:
    Django's ``Concat`` nests a pair and a COALESCE per field, deeper than SQLite's parser
    goes for ten fields."""

    output_field = TextField()

    def as_sql(  # type: ignore[override]
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, list[Any]]:
        parts: list[str] = []
        params: list[Any] = []
        for index, expression in enumerate(self.get_source_expressions()):
            sql, expression_params = compiler.compile(expression)
            if index:
                parts.append("%s")
                params.append("\x1f")
            parts.append(f"({sql})")
            params.extend(expression_params)
        joined = " || ".join(parts)
        # md5() on PostgreSQL; MD5(), which Django registers, on SQLite.
        function = "md5" if connection.vendor == "postgresql" else "MD5"
        return f"substr({function}({joined}), 1, {DIGEST_CHARS})", params


def prompts_query(flt: ReleaseFilter) -> QuerySet[Prompt, Any]:
    """The prompts that enter, by id, each with its digest (``RowDigest``) and its stored
    split (``PromptSplit``; empty or None for a prompt not assigned one yet), joined here so
    that no row is looked up apart."""
    fields = [*PROMPT_COLUMNS[:-1], "release_split__split"]
    return (
        Prompt.objects.filter(entering_prompt(flt))
        .annotate(
            digest=RowDigest("instruction", "context", "category", "language", "licence", "origin")
        )
        .order_by("id")
        .values_list(*fields)
    )


# The columns of prompts_query: the last, ``split``, is the stored split it joins.
PROMPT_COLUMNS = (
    "id",
    "instruction",
    "context",
    "category",
    "language",
    "licence",
    "origin",
    "state",
    "author_id",
    "digest",
    "split",
)


class DollyLine(Func):
    """PostgreSQL only: the Dolly JSONL line of an answer (``layout.DOLLY_KEYS``, each from
    the expression given in that order), built by the server. ``to_json`` escapes strings
    exactly as Python's ``json.dumps(..., ensure_ascii=False)`` does (the ORM path's
    ``dolly_bytes``), so both paths write the same bytes."""

    output_field = TextField()
    keys = tuple(key for key, _column in DOLLY_KEYS)

    def as_sql(  # type: ignore[override]
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, list[Any]]:
        parts, params = [], []
        for index, (key, expression) in enumerate(
            zip(self.keys, self.get_source_expressions(), strict=True)
        ):
            sql, expression_params = compiler.compile(expression)
            parts.append(f"%s || to_json(({sql})::text)::text")
            params.append(("{" if index == 0 else ", ") + f'"{key}": ')
            params.extend(expression_params)
        return "(" + " || ".join(parts) + " || %s)", [*params, "}\n"]


def sft_query(flt: ReleaseFilter, *, dolly_line: bool = False) -> QuerySet[Response, Any]:
    columns = [
        "id",
        "prompt__instruction",
        "prompt__context",
        "text",
        "prompt__category",
        "prompt__language",
        "source",
        "licence",
        "origin",
        "prompt__licence",
        "prompt__origin",
        "prompt_id",
        "author_id",
        "digest",
    ]
    # By prompt, then id: a prompt's answers come together, so the ranked configs take their
    # texts from this stream (see passes.RankedAnswers) instead of reading them again.
    qs = (
        Response.objects.filter(entering_response(flt))
        .annotate(
            digest=RowDigest(
                "prompt__instruction",
                "prompt__context",
                "prompt__category",
                "prompt__language",
                "prompt__licence",
                "prompt__origin",
                "text",
                "source",
                "licence",
                "origin",
            )
        )
        .order_by("prompt_id", "id")
    )
    if dolly_line:
        qs = qs.annotate(
            dolly_line=DollyLine(
                "prompt__instruction",
                "prompt__context",
                "text",
                "prompt__category",
                "prompt__language",
                "licence",
                "origin",
                "prompt__licence",
                "prompt__origin",
            )
        )
        columns.append("dolly_line")
    return qs.values_list(*columns)


SFT_COLUMNS = (
    "id",
    "instruction",
    "context",
    "response",
    "category",
    "language",
    "source",
    "licence",
    "origin",
    "prompt_licence",
    "prompt_origin",
    "prompt_id",
    "author_id",
    "digest",
)


def licences_query(flt: ReleaseFilter) -> QuerySet[Any, Any]:
    """``(licence, sft rows)`` of the answers that enter, by the licence each was written or
    imported under (an import names its source's), most rows first."""
    return (
        Response.objects.filter(entering_response(flt))
        .values("licence")
        .annotate(rows=Count("id"))
        .order_by("-rows", "licence")
        .values_list("licence", "rows")
    )


def origins_queries(flt: ReleaseFilter) -> tuple[QuerySet[Any, Any], QuerySet[Any, Any]]:
    """``(origin, licence, rows)`` of the prompts and of the answers that enter, grouped in
    SQL: where each came from ("hearth", or the imported data set's name) for the card's
    sources, which attribution needs."""

    def grouped(qs: QuerySet[Any, Any]) -> QuerySet[Any, Any]:
        return (
            qs.values("origin", "licence")
            .annotate(rows=Count("id"))
            .order_by("origin", "licence")
            .values_list("origin", "licence", "rows")
        )

    return (
        grouped(Prompt.objects.filter(entering_prompt(flt))),
        grouped(Response.objects.filter(entering_response(flt))),
    )


def rankings_filter(flt: ReleaseFilter) -> Q:
    """Rankings that enter: orders (not "all unusable"), by rankers not banned, of prompts
    that enter and are ranked; not those retired when their prompt's rank set fell apart and
    it ranked afresh (``Ranking.retired_at``), which ordered answers no longer there."""
    return (
        entering_prompt(flt, "prompt__")
        & Q(unusable=False, retired_at__isnull=True)
        & Q(ranker__banned_at__isnull=True)
        & Q(prompt__state__in=[PromptState.RANKING, PromptState.COMPLETE])
    )


def consensus_filter(flt: ReleaseFilter) -> Q:
    return entering_prompt(flt, "prompt__") & Q(prompt__state=PromptState.COMPLETE)


class JsonText(Func):
    """PostgreSQL only: a JSON field as its text (``[3, 1, 2]``, ``{"3>1": 2}``), which
    pyarrow splits and parses: psycopg decodes no JSON into Python objects."""

    output_field = TextField()
    template = "(%(expressions)s)::text"


# The columns of chunk_queries' rankings and consensus.
RANKING_COLUMNS = ("prompt_id", "id", "ranker_id", "order")
CONSENSUS_COLUMNS = ("prompt_id", "order", "wins", "rankers", "agreement")


def chunk_queries(
    flt: ReleaseFilter, first: int, last: int, *, json_text: bool = False
) -> tuple[QuerySet[Any, Any], QuerySet[Any, Any]]:
    """Rankings and consensus of the ranked prompts with ids in [first, last], each ordered
    by prompt (then id). With ``json_text`` (PostgreSQL only) the orders and pairwise wins
    come as JSON text (``JsonText``); otherwise as the JSON fields themselves. The prompts'
    and answers' texts come from the sft stream.

    The prompts are picked (filter and range) in a subquery, and each table is restricted to
    them by its own ``prompt_id``, range included, never by joining the prompts again: such a
    join makes PostgreSQL scan every prompt once per chunk instead of walking the indexes over
    the range.
    """
    chunk = Prompt.objects.filter(
        entering_prompt(flt),
        id__gte=first,
        id__lte=last,
        state__in=[PromptState.RANKING, PromptState.COMPLETE],
    )

    def of_chunk(prompts: QuerySet[Prompt, Any]) -> Q:
        return Q(prompt_id__gte=first, prompt_id__lte=last, prompt_id__in=prompts.values("id"))

    rankings_qs = Ranking.objects.filter(
        of_chunk(chunk), unusable=False, retired_at__isnull=True, ranker__banned_at__isnull=True
    ).order_by("prompt_id", "id")
    consensus_qs = PromptConsensus.objects.filter(
        of_chunk(chunk.filter(state=PromptState.COMPLETE))
    ).order_by("prompt_id")
    rankings: QuerySet[Any, Any]
    consensus: QuerySet[Any, Any]
    if json_text:
        rankings = rankings_qs.annotate(order_text=JsonText("order")).values_list(
            "prompt_id", "id", "ranker_id", "order_text"
        )
        consensus = consensus_qs.annotate(
            order_text=JsonText("order"), wins_text=JsonText("pairwise_wins")
        ).values_list("prompt_id", "order_text", "wins_text", "rankers", "agreement")
    else:
        rankings = rankings_qs.values_list("prompt_id", "id", "ranker_id", "order")
        consensus = consensus_qs.values_list(
            "prompt_id", "order", "pairwise_wins", "rankers", "agreement"
        )
    return rankings, consensus
