"""The Community page, public like Browse: the leaderboard of a period, and (``?view=progress``)
how the data set grows and where help is needed."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext, ngettext, npgettext, pgettext

from apps.collection.models import Category, PromptState, ResponseState
from apps.community import selectors
from apps.community.selectors.progress import HELP_KINDS, OpenWork, progress
from apps.core.languages import language_label
from apps.core.text import shown_number

PAGE_SIZE = 25
PROGRESS = "progress"


def community(request: HttpRequest) -> HttpResponse:
    """``/community/``: the leaderboard, or the Progress view with ``?view=progress`` (any
    other view is the leaderboard, as a link from before the views were added expects)."""
    if request.GET.get("view") == PROGRESS:
        return progress_view(request)
    return leaderboard(request)


def leaderboard(request: HttpRequest) -> HttpResponse:
    """Public: the board shows only the display names people chose (or a neutral label) and
    counts of work anyone can already browse, and those who would rather not appear opt out on
    their Profile. A period it does not know is shown as an error with no table, as Browse
    shows a bad filter: a board under another period would read as that one."""
    try:
        period = selectors.check_period(request.GET.get("period"))
    except ValidationError as exc:
        error, period, page, own, own_page = exc.message_dict["period"][0], "", None, None, None
    else:
        error = ""
        board = selectors.leaderboard(period=period)
        paginator = Paginator(board, PAGE_SIZE)
        page = paginator.get_page(request.GET.get("page"))
        own = selectors.own_standing(user=request.user, board=board, period=period)
        own_page = None if own is None or own.position is None else own.position // PAGE_SIZE + 1
    return render(
        request,
        "community/leaderboard.html",
        {
            "periods": selectors.PERIODS,
            "period": period,
            "period_label": selectors.PERIODS.get(period, ""),
            "error": error,
            "page": page,
            "own": own,
            "own_page": own_page,
        },
    )


def _help_words(kind: str, work: OpenWork) -> tuple[str, str, str]:
    """What waits (after its count), the tasks it holds, and the link's words."""
    items, tasks = work.items, work.tasks
    if kind == "prompts_to_review":
        what = ngettext("prompt waiting for review", "prompts waiting for review", items)
        held = ngettext("%(n)s review to give", "%(n)s reviews to give", tasks)
        go = pgettext("a link to take a task of this kind", "Review")
    elif kind == "answers_to_review":
        what = ngettext("answer waiting for review", "answers waiting for review", items)
        held = ngettext("%(n)s review to give", "%(n)s reviews to give", tasks)
        go = pgettext("a link to take a task of this kind", "Review")
    elif kind == "prompts_to_answer":
        what = ngettext("prompt waiting for answers", "prompts waiting for answers", items)
        held = ngettext("%(n)s answer to write", "%(n)s answers to write", tasks)
        go = pgettext("a link to take a task of this kind", "Answer")
    else:
        what = ngettext(
            "prompt whose answers wait to be ranked",
            "prompts whose answers wait to be ranked",
            items,
        )
        held = ngettext("%(n)s ranking to give", "%(n)s rankings to give", tasks)
        go = pgettext("a link to take a task of this kind", "Rank")
    return what, held % {"n": shown_number(tasks)}, go


def _help_needed(help_needed: dict[str, OpenWork]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for kind, work in help_needed.items():
        what, tasks, go = _help_words(kind, work)
        rows.append(
            {"work": work, "type": HELP_KINDS[kind], "what": what, "tasks": tasks, "go": go}
        )
    return rows


def _prompts_in(state: str, n: int) -> str:
    """A prompt state as said beside a count of prompts in it: "11 Complete" reads "11
    completas" in Spanish, where a state's own label is one prompt's ("Completa")."""
    words = {
        PromptState.REVIEW: npgettext("prompts", "In review", "In review", n),
        PromptState.COLLECTING: npgettext("prompts", "Collecting answers", "Collecting answers", n),
        PromptState.RANKING: npgettext("prompts", "Ranking", "Ranking", n),
        PromptState.COMPLETE: npgettext("prompts", "Complete", "Complete", n),
        PromptState.REJECTED: npgettext("prompts", "Rejected", "Rejected", n),
        PromptState.HALTED: npgettext("prompts", "Halted", "Halted", n),
        "withdrawn": npgettext("prompts", "Withdrawn", "Withdrawn", n),
        "hidden": npgettext("prompts", "Hidden", "Hidden", n),
    }
    return words[state]


def _answers_in(state: str, n: int) -> str:
    """An answer state as said beside a count of answers in it (see ``_prompts_in``)."""
    words = {
        ResponseState.REVIEW: npgettext("answers", "In review", "In review", n),
        ResponseState.ACCEPTED: npgettext("answers", "Accepted", "Accepted", n),
        ResponseState.REJECTED: npgettext("answers", "Rejected", "Rejected", n),
        "withdrawn": npgettext("answers", "Withdrawn", "Withdrawn", n),
        "hidden": npgettext("answers", "Hidden", "Hidden", n),
    }
    return words[state]


def progress_view(request: HttpRequest) -> HttpResponse:
    """Public: counts of the whole data set, nobody's own (see selectors.progress)."""
    found = progress()
    prompt_flow = [
        PromptState.REVIEW,
        PromptState.COLLECTING,
        PromptState.RANKING,
        PromptState.COMPLETE,
    ]
    languages = [(language_label(tag), n) for tag, n in found.languages]
    if found.other_languages:
        languages.append(
            (
                ngettext("Other (%(n)s language)", "Other (%(n)s languages)", found.other_languages)
                % {"n": found.other_languages},
                found.other_language_prompts,
            )
        )
    prompt_counts = [
        *((state, found.prompt_states[state]) for state in prompt_flow),
        (PromptState.REJECTED, found.prompt_states[PromptState.REJECTED]),
        (PromptState.HALTED, found.prompt_states[PromptState.HALTED]),
        ("withdrawn", found.prompts_withdrawn),
        ("hidden", found.prompts_hidden),
    ]
    answer_counts = [
        (ResponseState.REVIEW, found.answer_states[ResponseState.REVIEW]),
        (ResponseState.ACCEPTED, found.answer_states[ResponseState.ACCEPTED]),
        (ResponseState.REJECTED, found.answer_states[ResponseState.REJECTED]),
        ("withdrawn", found.answers_withdrawn),
        ("hidden", found.answers_hidden),
    ]
    return render(
        request,
        "community/progress.html",
        {
            "progress": found,
            "prompt_flow": [(_prompts_in(state, n), n) for state, n in prompt_counts[:4]],
            "prompt_aside": [(_prompts_in(state, n), n) for state, n in prompt_counts[4:]],
            "answer_flow": [(_answers_in(state, n), n) for state, n in answer_counts[:2]],
            "answer_aside": [
                *((_answers_in(state, n), n) for state, n in answer_counts[2:]),
                *(
                    [(gettext("Accepted, written by a model"), found.answers_model_written)]
                    if found.answers_model_written
                    else []
                ),
            ],
            "help_needed": _help_needed(found.help_needed),
            "days_totals": found.days_by_kind,
            "categories": [(Category(code).label, n) for code, n in found.categories],
            "languages": languages,
        },
    )
