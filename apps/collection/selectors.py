"""Reads for prompts and responses, with the permission rules written once."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import (
    Count,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
)
from django.db.models.functions import Now
from django.http import Http404
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from apps.accounts import roles
from apps.collection.models import (
    ACCEPTED_PROMPT_STATES,
    Prompt,
    Response,
    ResponseState,
    Source,
)
from apps.collection.search import IContains, upper
from apps.core.caching import CachedValue, cached, site_wide
from apps.core.paging import Pages


def default_language_for(*, user: Any) -> str:
    """The language a new prompt is tagged with until its writer picks another: the first
    language on their profile, else the language they read the site in (a volunteer who
    reads it in Spanish most likely writes in Spanish), else English."""
    languages = getattr(user, "languages", None) or []
    return languages[0] if languages else (get_language() or "en")


def public_authors(prefix: str = "") -> Q:
    """Work whose author is not banned. A ban takes a person's prompts and answers out of
    public view until it is lifted, as it keeps them out of releases and the task pool; the
    author (in My contributions and on its page) and moderators still see them."""
    return Q(**{f"{prefix}author__banned_at__isnull": True})


PUBLIC_PROMPT = (
    Q(state__in=ACCEPTED_PROMPT_STATES, withdrawn_at__isnull=True, hidden_at__isnull=True)
    & public_authors()
)
PUBLIC_RESPONSE = (
    Q(state=ResponseState.ACCEPTED, withdrawn_at__isnull=True, hidden_at__isnull=True)
    & public_authors()
)
# An answer anyone may read: public itself, and on a public prompt.
PUBLIC_RESPONSE_ON_PUBLIC_PROMPT = (
    PUBLIC_RESPONSE
    & Q(
        prompt__state__in=ACCEPTED_PROMPT_STATES,
        prompt__withdrawn_at__isnull=True,
        prompt__hidden_at__isnull=True,
    )
    & public_authors("prompt__")
)


def _visible_prompts_q(user: Any) -> Q:
    if roles.is_moderator(user):
        return Q()
    if user is not None and user.is_authenticated:
        return PUBLIC_PROMPT | Q(author=user)
    return PUBLIC_PROMPT


# A search is at most this long (characters) and this many words: each word is a containment
# test on three texts, so an unbounded search is an unbounded query.
SEARCH_MAX_CHARS = 200
SEARCH_MAX_WORDS = 12


# A search's terms: a phrase in double quotes, straight or typographic (“…”, „…“ as phones
# type them), or a word between spaces and quotes. A quote left open is dropped, as are the
# quotes themselves: '"river' is the word river.
_TERMS = re.compile(r'"([^"]*)"|“([^”]*)”|„([^“”]*)[“”]|([^\s"“”„]+)')


def search_terms(text: str) -> list[str]:
    """The terms of a search, each of which a prompt must contain; refuses one too long to run.

    A term is a word, or the words of a phrase in quotes, found together as written ("the
    river bends", between any spaces); the quotes are not searched for. Terms are matched
    case-insensitively anywhere (``bridge`` finds "Bridges", ``élan`` "Élan"), which works the
    same on SQLite and PostgreSQL (see ``search.IContains``) and in languages without spaces
    between words, where PostgreSQL's full-text stemming does not.
    """
    if len(text) > SEARCH_MAX_CHARS:
        raise ValidationError(
            _("Search for at most %(n)d characters (this is %(length)d).")
            % {"n": SEARCH_MAX_CHARS, "length": len(text)}
        )
    terms: list[str] = []
    for match in _TERMS.finditer(text):
        term = " ".join(next(group for group in match.groups() if group is not None).split())
        if term and term.casefold() not in (t.casefold() for t in terms):
            terms.append(term)
    if len(terms) > SEARCH_MAX_WORDS:
        raise ValidationError(
            _("Search for at most %(n)d words (this has %(count)d).")
            % {"n": SEARCH_MAX_WORDS, "count": len(terms)}
        )
    return terms


# pg_trgm indexes words by their three-character pieces: a shorter word has none to look up.
TRIGRAM = 3


def _has(column: str, term: str) -> Q:
    """``column`` contains ``term``, case ignored in every script (``column__icontains``,
    which folds only ASCII on SQLite)."""
    return Q(IContains(F(column), term))


def _containing(term: str) -> QuerySet[Any]:
    """The ids of prompts whose instruction, context or an accepted answer contains ``term``:
    three containment tests on one column each, which the trigram indexes of migration 0004
    answer on PostgreSQL by reading only the rows that hold the word."""
    return (
        Prompt.objects.filter(_has("instruction", term))
        .order_by()
        .values("pk")
        .union(
            Prompt.objects.filter(_has("context", term)).order_by().values("pk"),
            Response.objects.filter(PUBLIC_RESPONSE, _has("text", term))
            .order_by()
            .values("prompt_id"),
            all=True,
        )
    )


def _contains(term: str) -> Q:
    """The same test on each prompt in turn: the instruction, the context, then its answers."""
    in_an_answer = Exists(
        Response.objects.filter(PUBLIC_RESPONSE, _has("text", term), prompt=OuterRef("pk"))
    )
    return _has("instruction", term) | _has("context", term) | Q(in_an_answer)


def _matching(qs: QuerySet[Prompt], search: str) -> QuerySet[Prompt]:
    """Prompts containing every word of ``search`` in their instruction, their context or one
    of their accepted answers (not necessarily the same one for every word).

    Both forms give the same prompts; they differ in cost on PostgreSQL. The longest word
    (likely the rarest, and the one with the most trigrams to look up) picks the candidates
    from the indexes with ``pk IN (_containing)``: an OR that includes a subquery cannot be
    answered from indexes, so ``_contains`` alone reads every prompt. The other words are
    checked on those candidates only: as sets of their own, "the" or "is" in a search would
    each read nearly every prompt and answer. A word too short for a trigram gains nothing
    from the indexes, so such a search is checked prompt by prompt throughout.
    """
    return _matching_all(qs, search_terms(search))


def _matching_all(qs: QuerySet[Prompt], terms: list[str]) -> QuerySet[Prompt]:
    """``_matching`` for the words ``terms``."""
    terms = sorted(terms, key=len, reverse=True)
    if terms and len(terms[0]) >= TRIGRAM:
        qs = qs.filter(pk__in=_containing(terms[0]))
        terms = terms[1:]
    for term in terms:
        qs = qs.filter(_contains(term))
    return qs


def _filtered(
    qs: QuerySet[Prompt], *, category: str | None, language: str | None, search: str
) -> QuerySet[Prompt]:
    if category:
        qs = qs.filter(category=category)
    if language:
        qs = qs.filter(language=language)
    if search:
        qs = _matching(qs, search)
    return qs


def prompt_list_public(
    *,
    category: str | None = None,
    language: str | None = None,
    search: str = "",
) -> QuerySet[Prompt]:
    """Public prompts, newest first, of ``category`` and ``language`` (a canonical tag) when
    given, and containing every word of ``search`` (see ``search_terms``, which refuses a
    search too long to run with ValidationError). The browse page counts the answers of the
    page it shows with ``with_public_answer_counts``."""
    qs = Prompt.objects.filter(PUBLIC_PROMPT).select_related("author")
    qs = _filtered(qs, category=category, language=language, search=search)
    return qs.order_by("-created_at", "-id")


# Browse's and the API's searches list a search's newest matches, at most this many: counting
# every match of a common word read every text holding it (4 s for "water" at 45,000 public
# prompts), where the newest thousand are found in the first few thousand prompts. A search
# with more matches says so (``FoundPrompts.capped``) and asks for another word or a filter.
SEARCH_RESULTS_LIMIT = 1000
# A search's matches are kept this long (seconds) in the shared cache, so that its count, its
# page and the next pages do not search again: a prompt accepted, or an answer that now holds
# the word, shows in a search made before it within this time (see ``cached``: a little longer
# while one request refreshes it). A prompt withdrawn or hidden meanwhile leaves the page at
# once (each page is read again as public prompts), though the count may still include it.
SEARCH_CACHE_SECONDS = 30
# The newest prompts a search checks first, and the most prompts one query names (SQLite binds
# at most 32,766 parameters).
SEARCH_WINDOW = 2000
# From this many public prompts, the unfiltered list takes its count from ``site_counts``: its
# first pages are full whatever the count says, and counting them takes 100-200 ms at 45,000.
# A smaller site counts them (a few milliseconds), so a new prompt is listed at once.
CACHED_COUNT_FROM = 1000


class ListedPrompts(Pages[Prompt]):
    """Public prompts newest first: counted once when asked, or with the count given (the
    unfiltered list's, which ``site_counts`` keeps)."""

    def __init__(self, prompts: QuerySet[Prompt], count: int | None = None) -> None:
        self.prompts = prompts
        self._count = count

    def count(self) -> int:
        if self._count is None:
            self._count = self.prompts.count()
        return self._count

    def _rows(self, index: slice) -> list[Prompt]:
        return list(self.prompts[index])


class FoundPrompts(Pages[Prompt]):
    """A search's matches: the ids of the newest ``SEARCH_RESULTS_LIMIT``, and ``capped`` when
    more match. A page is read by id, and again among public prompts only, so a prompt
    withdrawn or hidden since the search is left out."""

    def __init__(self, ids: list[int]) -> None:
        self.capped = len(ids) > SEARCH_RESULTS_LIMIT
        self.ids = ids[:SEARCH_RESULTS_LIMIT]

    def count(self) -> int:
        return len(self.ids)

    def _rows(self, index: slice) -> list[Prompt]:
        ids = self.ids[index]
        rows = Prompt.objects.filter(PUBLIC_PROMPT).select_related("author").in_bulk(ids)
        return [rows[pk] for pk in ids if pk in rows]


def _containing_among(ids: set[int], term: str) -> set[int]:
    """Those of ``ids`` whose instruction, context or an accepted answer contains ``term``.
    Named by id, PostgreSQL reads only these prompts' texts, or (a rarer word) the rows the
    trigram indexes give that are among them; answers only of prompts whose own texts lack
    the word."""
    in_prompt = set(
        Prompt.objects.filter(_has("instruction", term) | _has("context", term), pk__in=ids)
        .order_by()
        .values_list("pk", flat=True)
    )
    rest = ids - in_prompt
    if not rest:
        return in_prompt
    in_answer = (
        Response.objects.filter(PUBLIC_RESPONSE, _has("text", term), prompt_id__in=rest)
        .order_by()
        .values_list("prompt_id", flat=True)
    )
    return in_prompt | set(in_answer)


def _narrowed(ids: list[int], terms: list[str]) -> list[int]:
    """Those of ``ids`` that contain every word of ``terms``, in the order of ``ids``."""
    matched = set(ids)
    for term in terms:
        if not matched:
            break
        matched = _containing_among(matched, term)
    return [pk for pk in ids if pk in matched]


def _newest_matching_ids(prompts: QuerySet[Prompt], terms: list[str], wanted: int) -> list[int]:
    """The ids of the newest ``wanted`` of ``prompts`` that contain every word of ``terms``
    (``_matching``'s test), newest first.

    First the newest SEARCH_WINDOW prompts are checked, word by word, the longest first and
    each other word only on the prompts left: a common word ("the", "water") is found there
    without reading the many older prompts that hold it too. Short of ``wanted``, the older
    prompts that hold the longest word are found from the trigram indexes (as ``_matching``
    does), the other words checked on those alone, newest first, until ``wanted`` are found:
    a stop word ("the", "is") checks a few prompts' texts instead of every answer.
    """
    terms = sorted(terms, key=len, reverse=True)
    newest = prompts.order_by("-created_at", "-id")
    window = list(newest.values_list("pk", "created_at")[:SEARCH_WINDOW])
    found = _narrowed([pk for pk, _created_at in window], terms)
    if len(found) >= wanted or len(window) < SEARCH_WINDOW:
        return found[:wanted]
    pk, created_at = window[-1]
    older = newest.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk))
    found += _matching_all(older, terms).values_list("pk", flat=True)[: wanted - len(found)]
    return found


def _search_cache_key(terms: list[str], category: str | None, language: str | None) -> str:
    """One key for searches that match alike: the words as the database compares them (in
    capitals, as ``IContains`` does on both databases; not casefolded, which makes "straße"
    "strasse"), in any order, and the filters."""
    words = sorted({upper(term) for term in terms})
    described = json.dumps([words, category or "", language or ""], ensure_ascii=False)
    return f"collection:search:v1:{hashlib.sha256(described.encode()).hexdigest()}"


def prompt_browse_public(
    *, category: str | None = None, language: str | None = None, search: str = ""
) -> ListedPrompts | FoundPrompts:
    """``prompt_list_public``'s prompts, for Browse and the API's list to page through.

    A search lists its newest ``SEARCH_RESULTS_LIMIT`` matches (``FoundPrompts``), found once
    and kept ``SEARCH_CACHE_SECONDS`` for everyone who makes the same search: they are public
    prompts only, the same for every visitor, so no one's own or a moderator's view is kept.
    Without a search or filter, from CACHED_COUNT_FROM prompts on, the count is
    ``site_counts``'s (at most a minute old, as on the home page: counted afresh it is a scan
    of every public prompt on every visit), so for that minute the last page may miss the
    oldest prompts or come up short; fewer, or with filters, are counted.
    Refuses a search too long to run with ValidationError (``search_terms``).
    """
    terms = search_terms(search)
    if terms:
        prompts = _filtered(
            Prompt.objects.filter(PUBLIC_PROMPT), category=category, language=language, search=""
        )
        ids, _computed = cached(
            _search_cache_key(terms, category, language),
            SEARCH_CACHE_SECONDS,
            lambda: _newest_matching_ids(prompts, terms, SEARCH_RESULTS_LIMIT + 1),
        )
        return FoundPrompts(ids)
    listed = prompt_list_public(category=category, language=language)
    if category or language:
        return ListedPrompts(listed)
    counted = site_counts()["prompts"]
    return ListedPrompts(listed, count=counted if counted >= CACHED_COUNT_FROM else None)


def with_public_answer_counts(prompts: Iterable[Prompt]) -> list[Prompt]:
    """``prompts`` (a page of them) as a list, each with ``public_responses``, the number of
    its answers anyone may read: one query for the page, once it is cut. Counted in the list
    query instead (a subquery per row), PostgreSQL counts for every row an OFFSET skips too:
    page 1,400 of Browse counted the answers of 28,000 prompts, most of a second."""
    rows = list(prompts)
    if not rows:
        return rows
    counts = dict(
        Response.objects.filter(PUBLIC_RESPONSE, prompt__in=[p.pk for p in rows])
        .order_by()
        .values_list("prompt")
        .annotate(n=Count("pk"))
    )
    for prompt in rows:
        prompt.public_responses = counts.get(prompt.pk, 0)  # type: ignore[attr-defined]
    return rows


def prompt_list_for_author(
    *, user: Any, category: str | None = None, language: str | None = None, search: str = ""
) -> QuerySet[Prompt]:
    """The user's own prompts in every state, filtered like ``prompt_list_public``."""
    qs = Prompt.objects.filter(author=user).select_related("author")
    return _filtered(qs, category=category, language=language, search=search)


def prompt_get_for_user(*, user: Any, prompt_id: Any) -> Prompt:
    """The prompt if ``user`` may see it, else 404 (its existence is not revealed)."""
    try:
        pk = int(prompt_id)
    except (TypeError, ValueError):
        raise Http404 from None
    prompt = Prompt.objects.filter(_visible_prompts_q(user), pk=pk).select_related("author").first()
    if prompt is None:
        raise Http404
    return prompt


def prompt_is_visible_to(*, user: Any, prompt_id: int) -> bool:
    """Whether ``prompt_get_for_user`` would show ``user`` this prompt rather than a 404."""
    return Prompt.objects.filter(_visible_prompts_q(user), pk=prompt_id).exists()


def responses_visible_on_prompt(*, prompt: Prompt, user: Any) -> QuerySet[Response]:
    qs = prompt.responses.select_related("author")
    if roles.is_moderator(user):
        return qs
    if user is not None and user.is_authenticated:
        return qs.filter(PUBLIC_RESPONSE | Q(author=user, withdrawn_at__isnull=True))
    return qs.filter(PUBLIC_RESPONSE)


def response_by_author_on_prompt(*, prompt: Prompt, user: Any) -> Response | None:
    """The user's answer to ``prompt``, withdrawn or not, if they wrote one: each person
    answers a prompt once (a writer's own answer counts), so they may not write another."""
    if user is None or not user.is_authenticated:
        return None
    return Response.objects.filter(prompt=prompt, author=user).order_by("-created_at").first()


def response_list_for_author(*, user: Any) -> QuerySet[Response]:
    # The author too: the API names it on every row.
    return Response.objects.filter(author=user).select_related("prompt", "author")


def response_get_for_user(*, user: Any, response_id: Any) -> Response:
    try:
        pk = int(response_id)
    except (TypeError, ValueError):
        raise Http404 from None
    base = Response.objects.select_related("prompt", "author").filter(pk=pk)
    if not roles.is_moderator(user):
        visible = PUBLIC_RESPONSE_ON_PUBLIC_PROMPT
        if user is not None and user.is_authenticated:
            visible |= Q(author=user)
        base = base.filter(visible)
    response = base.first()
    if response is None:
        raise Http404
    return response


def review_started(
    *, prompt_ids: Iterable[int] = (), response_ids: Iterable[int] = ()
) -> tuple[set[int], set[int]]:
    """Which of these prompts and answers someone has reviewed or holds a live review task
    on: from then on their author may no longer edit them, since reviewers judge the text
    they were shown (QA: text edited while two reviews were held was accepted unseen). Two
    queries at most, none for empty lists."""
    from apps.assignments.models import Assignment, AssignmentState, TaskType
    from apps.feedback.models import Review

    found: tuple[set[int], set[int]] = (set(), set())
    held = Q(state=AssignmentState.ACTIVE, expires_at__gt=Now())
    for ids, column, task_type, started in (
        (list(prompt_ids), "prompt_id", TaskType.REVIEW_PROMPT, found[0]),
        (list(response_ids), "response_id", TaskType.REVIEW_RESPONSE, found[1]),
    ):
        if not ids:
            continue
        reviewed = Review.objects.filter(**{f"{column}__in": ids}).values_list(column)
        holding = (
            Assignment.objects.filter(held, task_type=task_type, **{f"{column}__in": ids})
            .order_by()
            .values_list(column)
        )
        started.update(pk for (pk,) in reviewed.order_by().union(holding))
    return found


def attach_editable(*, prompts: Iterable[Prompt] = (), responses: Iterable[Response] = ()) -> None:
    """Give each prompt and answer an ``editable`` flag: in review, not withdrawn, and no
    review started (``review_started``). Whether the viewer is its author is the page's
    business. At most two queries for all of them."""
    prompts, responses = list(prompts), list(responses)
    in_review = {p.pk for p in prompts if p.state == "review" and p.withdrawn_at is None}
    answers = {r.pk for r in responses if r.state == "review" and r.withdrawn_at is None}
    started_prompts, started_answers = review_started(prompt_ids=in_review, response_ids=answers)
    for prompt in prompts:
        prompt.editable = prompt.pk in in_review - started_prompts  # type: ignore[attr-defined]
    for response in responses:
        response.editable = response.pk in answers - started_answers  # type: ignore[attr-defined]


# My contributions' state filters, for prompts and answers alike. Each shows what the item's
# badge says (collection/_state.html: withdrawn before hidden before the state), so hidden
# work and halted prompts show under no filter but "all".
OWN_WORK_STATES = ("review", "accepted", "rejected", "withdrawn")


def _own_work_in_state(
    rows: QuerySet[Any], state: str, *, accepted: tuple[str, ...]
) -> QuerySet[Any]:
    """``rows`` (prompts or answers) whose badge reads ``state``; every row for any other
    ``state`` (an unknown one included: the page then shows everything, as "all" does)."""
    live = Q(withdrawn_at__isnull=True, hidden_at__isnull=True)
    if state == "review":
        return rows.filter(live, state="review")
    if state == "accepted":
        return rows.filter(live, state__in=accepted)
    if state == "rejected":
        return rows.filter(live, state="rejected")
    if state == "withdrawn":
        return rows.filter(withdrawn_at__isnull=False)
    return rows


def prompt_list_with_own_answers(*, user: Any, state: str = "") -> QuerySet[Prompt]:
    """The user's own prompts (as ``prompt_list_for_author``), newest first, in ``state`` (one
    of ``OWN_WORK_STATES``; any other: all), each with only the user's own answers to it
    prefetched: others' answers, and reviewers' reasons for turning those down, are not
    theirs to read in My contributions."""
    own = Response.objects.filter(author_id=user.pk)
    prompts = prompt_list_for_author(user=user).prefetch_related(
        Prefetch("responses", queryset=own)
    )
    return _own_work_in_state(prompts, state, accepted=ACCEPTED_PROMPT_STATES)


def response_list_on_others_prompts(*, user: Any, state: str = "") -> QuerySet[Response]:
    """The user's answers to other people's prompts, newest first (as their prompts are), in
    ``state`` (as ``prompt_list_with_own_answers``), each with its prompt and ``prompt_shown``:
    whether the user may still read that prompt. One withdrawn, hidden or by a banned author
    is not theirs to read any more, though their answer to it stays theirs."""
    answers = (
        Response.objects.filter(author_id=user.pk)
        # Not a join: the few own prompts are set aside, and the answers are read in order
        # from response_author_recent (the join read every one of them, then sorted them).
        .exclude(prompt_id__in=Prompt.objects.filter(author_id=user.pk).values("pk"))
        .select_related("prompt")
        .annotate(
            prompt_shown=Exists(
                Prompt.objects.filter(_visible_prompts_q(user), pk=OuterRef("prompt_id"))
            )
        )
        .order_by("-created_at", "-id")
    )
    return _own_work_in_state(answers, state, accepted=(ResponseState.ACCEPTED,))


def prompts_answered_by_model(*, origin: str, limit: int) -> tuple[list[Prompt], int]:
    """The prompts holding a model-written answer filed from ``origin`` (a training run's
    output name), by id, at most ``limit`` of them; and how many there are in all."""
    answered = Prompt.objects.filter(
        responses__source=Source.MODEL, responses__origin=origin
    ).distinct()
    return list(answered.order_by("id")[:limit]), answered.count()


# The home page's counts are read from the cache when computed in the last minute, as the
# Community board and Progress are: counted afresh they are three scans of every public prompt
# and answer on every visit to the busiest page (280 ms at 30,000 prompts and 57,000 answers).
SITE_COUNTS_CACHE_SECONDS = 60
SITE_COUNTS_CACHE_KEY = "collection:site-counts:v1"


def site_counts() -> dict[str, int]:
    """What the home page counts: the prompts anyone can browse, their accepted answers, and
    the people who wrote them (at most ``SITE_COUNTS_CACHE_SECONDS`` old). Work in review,
    rejected, halted, withdrawn or hidden is not shown to visitors, so it is not counted
    either, nor a banned author's work."""
    found, _computed = cached(*_site_counts_value())
    return found


def _site_counts_value() -> CachedValue[dict[str, int]]:
    return CachedValue(SITE_COUNTS_CACHE_KEY, SITE_COUNTS_CACHE_SECONDS, _site_counts)


def _site_counts() -> dict[str, int]:
    prompts = Prompt.objects.filter(PUBLIC_PROMPT).order_by()
    responses = Response.objects.filter(PUBLIC_RESPONSE_ON_PUBLIC_PROMPT).order_by()
    # order_by(): no Meta ordering inside the UNION (SQLite refuses it). People only: the
    # account that files model-written answers is no contributor.
    people = responses.filter(source=Source.HUMAN)
    authors = prompts.values("author_id").union(people.values("author_id"))
    return {
        "prompts": prompts.count(),
        "responses": responses.count(),
        "contributors": authors.count(),
    }


@site_wide
def _site_wide_values() -> list[CachedValue[Any]]:
    """The home page's counts, kept warm by beat (``caching.site_wide``)."""
    return [_site_counts_value()]
