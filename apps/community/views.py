"""The Community page: the leaderboard of a period, public like Browse."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.community import selectors

PAGE_SIZE = 25


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
